"""`lockgate serve`: the OpenAI-compatible gateway."""

from __future__ import annotations

import sys
from typing import Any

import click

from lockgate.auth.scopes import SERVE
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.config.server import ServerConfig
from lockgate.gateway.header_timeout import header_timeout_protocol
from lockgate.gateway.shutdown import exit_zero_on_stop


def uvicorn_limits(server: ServerConfig) -> dict[str, Any]:
    """uvicorn's options: the configured parser and event loop, and connection limits: idle
    keep-alive connections are dropped, connections beyond the limit get 503 instead of
    queueing, buffered headers are bounded and must arrive in time (the body's deadline is
    the app's, see gateway/body_timeout.py)."""
    options: dict[str, Any] = {
        "http": header_timeout_protocol(
            server.header_read_timeout_s, server.http, server.h11_max_incomplete_event_size
        ),
        "loop": server.loop,
        "timeout_keep_alive": server.timeout_keep_alive_s,
        # How long a stop waits for the requests in flight (uvicorn's default: forever).
        "timeout_graceful_shutdown": server.shutdown_grace_s,
        "limit_concurrency": server.limit_concurrency,
        "h11_max_incomplete_event_size": server.h11_max_incomplete_event_size,
    }
    if server.tls_cert_file is not None and server.tls_key_file is not None:
        options["ssl_certfile"] = str(server.tls_cert_file)
        options["ssl_keyfile"] = str(server.tls_key_file)
    return options


@requires(SERVE)
@click.command()
@click.option("--host", default=None, help="Bind address (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8080).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Gateway processes sharing the port (README: Several processes).",
)
@click.pass_obj
def serve(obj: Ctx, host: str | None, port: int | None, workers: int) -> None:
    """Run the OpenAI-compatible gateway."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from lockgate.gateway.app import create_app
    from lockgate.logs.setup import uvicorn_log_config

    settings = obj.settings
    from lockgate.gateway import gcpolicy

    gcpolicy.serving()
    try:
        # With several workers the app is built here only to check the config (each worker
        # builds its own); a bad config fails once, before any process starts.
        app = create_app(obj.services())
    except (ValueError, KeyError) as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(2)
    options: dict[str, Any] = {
        "host": host or settings.server.host,
        "port": port if port is not None else settings.server.port,
        "log_level": "info",
        "log_config": uvicorn_log_config(LOGGING_CONFIG, settings.privacy.redact_logs),
        **uvicorn_limits(settings.server),
    }
    if workers == 1:
        exit_zero_on_stop()
        uvicorn.run(app, **options)
        return
    from lockgate.gateway import workers as multi

    multi.prepare(obj.services())
    multi.config_env(obj.config_path)
    multi.share_ui_secret(settings)
    with multi.shared_metrics(settings):
        multi.run(workers, options, settings.server.worker_sockets)
