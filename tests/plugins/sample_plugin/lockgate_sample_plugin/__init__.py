"""A scanner (`shout`: text written in capitals) and a command (`lockgate sample-hello`),
registered through Lockgate's hooks as any installed package would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import click
from pydantic import Field

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams
from lockgate.plugins import hookimpl


class ShoutParams(ScannerParams):
    min_letters: int = Field(8, ge=1, description="shorter texts are never shouting")
    ratio: float = Field(0.9, gt=0, le=1, description="share of capitals that is shouting")


class ShoutScanner:
    name: ClassVar[str] = "shout"
    Params: ClassVar[type[ShoutParams]] = ShoutParams

    def __init__(self, params: ShoutParams) -> None:
        self.params = params

    @classmethod
    def build(cls, params: ShoutParams, deps: ScannerDeps) -> ShoutScanner:
        return cls(params)

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        letters = [c for c in text if c.isalpha()]
        if len(letters) < self.params.min_letters:
            return []
        share = sum(c.isupper() for c in letters) / len(letters)
        if share < self.params.ratio:
            return []
        return [Finding("SHOUTING", 0, len(text), share, self.name, None, f"{share:.0%} capitals")]


@hookimpl
def register_scanners(register: Callable[[str, Any], None]) -> None:
    register(ShoutScanner.name, ShoutScanner)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command("sample-hello")
    @click.argument("who", default="world")
    def sample_hello(who: str) -> None:
        """Say hello from the sample plugin."""
        click.echo(f"hello {who}, from lockgate-sample-plugin")
