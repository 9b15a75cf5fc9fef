"""`lockgate serve`: the OpenAI-compatible gateway."""

from __future__ import annotations

import sys

import click

from lockgate.cli.context import Ctx


@click.command()
@click.option("--host", default=None, help="Bind address (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8080).")
@click.pass_obj
def serve(obj: Ctx, host: str | None, port: int | None) -> None:
    """Run the OpenAI-compatible gateway."""
    import uvicorn

    from lockgate.gateway.app import create_app

    settings = obj.settings
    try:
        app = create_app(obj.services())
    except (ValueError, KeyError) as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(2)
    uvicorn.run(
        app,
        host=host or settings.server.host,
        port=port if port is not None else settings.server.port,
        log_level="info",
    )
