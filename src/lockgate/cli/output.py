"""How commands print: JSON for `--json`, one line per row otherwise."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

# The `--json` flag of commands that print rows or a report.
json_flag = click.option("--json", "as_json", is_flag=True)


def dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def ts(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


def echo_rows(
    rows: Sequence[dict[str, Any]],
    as_json: bool,
    line: Callable[[dict[str, Any]], str],
    counted: str | None = None,
) -> None:
    """All rows as JSON, or `line(row)` for each; then "N {counted}" when `counted` is given."""
    if as_json:
        dump(rows)
        return
    for row in rows:
        click.echo(line(row))
    if counted is not None:
        click.echo(f"{len(rows)} {counted}")
