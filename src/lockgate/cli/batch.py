"""`lockgate batch`: batches submitted through /v1/batches."""

from __future__ import annotations

from typing import Any

import click

from lockgate.auth.scopes import BATCHES_ADMIN
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import echo_rows, json_flag


@click.group("batch")
def batch() -> None:
    """Batches submitted through /v1/batches."""


def _batch(b: dict[str, Any]) -> str:
    c = b["request_counts"]
    return (
        f"{b['id']}  {b['status']:<11} {c['completed']}/{c['total']} done, "
        f"{c['failed']} failed  output {b['output_file_id'] or '-'}"
    )


@requires(BATCHES_ADMIN)
@batch.command("list")
@click.option("--limit", type=int, default=20)
@json_flag
@click.pass_obj
def batch_list(obj: Ctx, limit: int, as_json: bool) -> None:
    """The newest batches with their progress."""
    echo_rows(obj.services().batches.list(limit), as_json, _batch)
