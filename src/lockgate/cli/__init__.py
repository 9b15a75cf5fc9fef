"""The `lockgate` command line: the click group `main`, the built-in commands (one module per
domain), then whatever installed plugins add through the `register_commands` hook."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from lockgate.cli import (
    audit,
    batch,
    cache,
    calibrate,
    config_cmd,
    cost,
    crypto,
    docs,
    drift,
    evals,
    feedback,
    guard,
    ingest,
    keys,
    loadtest,
    privacy,
    prompts,
    readiness,
    releases,
    review,
    search,
    serve,
    traces,
    worker,
)
from lockgate.cli.authz import guard_commands
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, ts
from lockgate.config import ConfigError
from lockgate.retrieval.index import VectorIndexMisconfigured, VectorIndexUnavailable

__all__ = ["Ctx", "dump", "echo_rows", "main", "ts"]


class _Main(click.Group):
    """A setting found invalid after the file loaded (a policy's scanner params, a model's
    backend, a chunking strategy: things only the plugins know) ends the command the way an
    invalid config file does: the message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        # Commands added since the last call (a plugin's) get their scope check too.
        guard_commands(self)
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"lockgate: {exc}", err=True)
            sys.exit(2)
        except VectorIndexUnavailable as exc:
            click.echo(f"lockgate: {exc}", err=True)
            sys.exit(2 if isinstance(exc, VectorIndexMisconfigured) else 1)


@click.group(cls=_Main)
@click.option("--config", "config_path", envvar="LOCKGATE_CONFIG", help="Path to lockgate.yaml.")
@click.option(
    "--api-key",
    envvar="LOCKGATE_API_KEY",
    default=None,
    help="Run with this key's scopes and tenant (default: $LOCKGATE_API_KEY; none: the "
    "host's operator, as admin, unless auth.cli_requires_key).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, api_key: str | None) -> None:
    """Lockgate: grounded answers over your documents behind an OpenAI-compatible gateway."""
    # pypdf narrates every repair it attempts on a damaged file; the quarantine says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # Everything Lockgate writes (store, uploaded files, keys, logs) is for its owner only.
    os.umask(0o077)
    ctx.obj = Ctx(config_path, api_key)
    ctx.call_on_close(ctx.obj.close)


def add_plugin_commands(cli: click.Group) -> None:
    """Let each installed plugin add its commands. A broken plugin costs a one-line warning,
    never the rest of the command line."""
    from lockgate.plugins import plugin_manager

    try:
        pm = plugin_manager()
        impls = pm.hook.register_commands.get_hookimpls()
    except Exception as exc:  # an entry point that fails to import
        _warn(f"plugins not loaded: {_one_line(exc)}")
        return
    for impl in impls:
        # One plugin at a time, so that one that raises does not stop the others.
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        try:
            pm.subset_hook_caller("register_commands", others)(cli=cli)
        except Exception as exc:
            _warn(f"plugin '{impl.plugin_name}' added no commands: {_one_line(exc)}")


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _warn(message: str) -> None:
    click.echo(f"lockgate: warning: {message}", err=True)


def _register() -> None:
    for command in (
        config_cmd.config,
        ingest.ingest,
        ingest.runs,
        ingest.sources,
        docs.docs,
        docs.chunks,
        search.search,
        search.ask,
        serve.serve,
        guard.guard,
        guard.escalations,
        calibrate.guard_calibrate,
        traces.traces,
        cost.cost,
        cost.routing,
        cache.cache,
        batch.batch,
        audit.audit,
        keys.keys,
        privacy.privacy,
        review.review,
        feedback.feedback,
        drift.drift,
        evals.eval_group,
        prompts.prompts,
        releases.release,
        loadtest.loadtest,
        readiness.readiness,
        worker.worker,
    ):
        main.add_command(command)
    # The master key belongs with the other keys.
    keys.keys.add_command(crypto.rotate_master)
    # Retrying quarantined files is an ingest run, so the command lives with ingest.
    docs.docs.add_command(ingest.docs_retry)
    add_plugin_commands(main)


_register()
