"""What every command receives as `obj`: the settings and one `Services`, both built on first
use so that `--help` and commands that need neither stay fast."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lockgate.config import ConfigError, Settings, load_settings
from lockgate.logs.setup import install as install_logging

if TYPE_CHECKING:
    from lockgate.engine.turn import Principal
    from lockgate.services import Services


class Ctx:
    def __init__(self, config_path: str | None, api_key: str | None = None) -> None:
        self.config_path = config_path
        # The operator's key (`--api-key`, LOCKGATE_API_KEY): commands run with its scopes.
        self.api_key = api_key
        # Who runs this command, once `lockgate.cli.authz` has checked it.
        self.principal: Principal | None = None
        self._settings: Settings | None = None
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from lockgate.auth.scopes import matrix_of

            try:
                settings = load_settings(self.config_path)
                # Roles and scopes are checked here as well as when the gateway starts:
                # config cannot name them without importing the auth package.
                matrix_of(settings.auth)
                self._settings = settings
            except ConfigError as exc:
                click.echo(f"lockgate: {exc}", err=True)
                sys.exit(2)
            # Before any command logs: PII is kept out of every line unless the config says not.
            install_logging(self._settings.privacy.redact_logs)
        return self._settings

    def services(self) -> Services:
        if self._services is None:
            # Imported on first use: it pulls in the models, the store and the guardrails.
            from lockgate.observability import dispatch
            from lockgate.services import Services

            dispatch.configure(self.settings.events)  # the process's event writer
            self._services = Services(self.settings)
        return self._services

    def close(self) -> None:
        """At the end of the command: what it queued for the store (the traces of `eval run`,
        audit entries) is written before the process exits, so the command run next
        (`traces show`, `audit list`) finds it."""
        if self._services is not None:
            self._services.close()
