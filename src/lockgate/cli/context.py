"""What every command receives as `obj`: the settings and one `Services`, both built on first
use so that `--help` and commands that need neither stay fast."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lockgate.config import ConfigError, Settings, load_settings
from lockgate.logs.setup import install as install_logging

if TYPE_CHECKING:
    from lockgate.services import Services


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                click.echo(f"lockgate: {exc}", err=True)
                sys.exit(2)
            # Before any command logs: PII is kept out of every line unless the config says not.
            install_logging(self._settings.privacy.redact_logs)
        return self._settings

    def services(self) -> Services:
        if self._services is None:
            # Imported on first use: it pulls in the models, the store and the guardrails.
            from lockgate.services import Services

            self._services = Services(self.settings)
        return self._services
