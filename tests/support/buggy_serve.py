"""`lockgate serve` with one buggy pipeline stage, run as its own process:

    python -m tests.support.buggy_serve --config lockgate.yaml serve --port N

The stage (`test_quote_input`) raises an error that quotes the caller's last message, as a
careless parser or plugin would: the gateway's unhandled-error path then logs user text.
The config's pipeline must name the stage."""

from __future__ import annotations

from typing import Any

from lockgate.engine.answer import Answer
from lockgate.engine.pipeline import Stage
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager

STAGE = "test_quote_input"


class QuoteInput(Stage):
    name = STAGE

    def __init__(self, services: Any) -> None:
        pass

    async def __call__(self, turn: Any, state: Any, call_next: Any) -> Answer:
        raise ValueError(f"cannot handle message {turn.messages[-1].content!r}")


class _Plugin:
    @hookimpl
    def register_stages(self, register: Any) -> None:
        register(STAGE, QuoteInput)


def main() -> None:
    from lockgate.cli import main as cli

    plugin_manager().register(_Plugin(), name="test-quote-input")
    cli()


if __name__ == "__main__":
    main()
