"""`lockgate audit`: check the hash chain, export and list entries."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click

from lockgate.auth.scopes import AUDIT_READ
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import echo_rows, json_flag, ts
from lockgate.store.audit import AuditLog

_PAGE = 1000


class Moment(click.ParamType):
    """A point in time: seconds since the epoch, or ISO 8601 (no zone: UTC)."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"'{value}' is neither epoch seconds nor an ISO 8601 time", param, ctx)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


def _anchor(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:HASH (a seq and the 64-hex hash of that entry)")
    return int(seq), digest.lower()


@requires(AUDIT_READ)
@audit.command("verify")
@click.option(
    "--anchor",
    callback=_anchor,
    metavar="SEQ:HASH",
    help="A head recorded elsewhere earlier (e.g. from `verify --json`): the chain must still "
    "carry this hash at this seq.",
)
@json_flag
@click.pass_obj
def audit_verify(obj: Ctx, anchor: tuple[int, str] | None, as_json: bool) -> None:
    """Check every entry's hash and link, and the (signed) head. Exit 1 at the first bad one."""
    verdict = obj.services().audit.verify(anchor)
    if as_json:
        problem = verdict.problem
        click.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "entries": verdict.entries,
                    "head": verdict.head,
                    "head_seq": verdict.entries if verdict.ok else None,
                    "signed": verdict.signed,
                    "bad_seq": problem.seq if problem else None,
                    "reason": problem.reason if problem else None,
                }
            )
        )
    elif verdict.problem is None:
        signed = ", signed" if verdict.signed else ""
        click.echo(f"ok: {verdict.entries} entries, head {verdict.head}{signed}")
    else:
        where = "head" if verdict.problem.seq == 0 else f"entry seq {verdict.problem.seq}"
        click.echo(
            f"lockgate: audit log broken at {where}: {verdict.problem.reason} "
            f"({verdict.entries} entries before it check out)",
            err=True,
        )
    if not verdict.ok:
        sys.exit(1)


def _pages(
    log: AuditLog, since: float | None, until: float | None, kinds: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = log.entries(since, until, kinds, limit=_PAGE, after_seq=after)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1]["seq"]


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in this environment
        return "cli"


def _line(r: dict[str, Any]) -> str:
    data = json.dumps(r["data"], sort_keys=True, ensure_ascii=False)
    if len(data) > 80:
        data = data[:79] + "…"
    return (
        f"{r['seq']:>7}  {ts(r['created_at'])}  {r['kind']:<18} {r['actor'] or '-':<14} "
        f"{r['tenant'] or '-':<10} {r['ref'] or '-':<34} {data}"
    )


@requires(AUDIT_READ)
@audit.command("export")
@click.option("--since", type=Moment(), required=True, help="Epoch seconds or ISO 8601 (UTC).")
@click.option("--until", type=Moment(), help="Up to, not including, this time.")
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable).")
@json_flag
@click.pass_obj
def audit_export(
    obj: Ctx, since: float, until: float | None, kinds: tuple[str, ...], as_json: bool
) -> None:
    """Entries in a time range, oldest first. --json: one JSON object per line (JSON Lines),
    every column including hash and prev_hash, so a copy can be verified elsewhere."""
    log = obj.services().audit
    count = 0
    for row in _pages(log, since, until, kinds):
        click.echo(json.dumps(row, sort_keys=True, ensure_ascii=False) if as_json else _line(row))
        count += 1
    # Reading the audit trail out is itself an export worth a record.
    log.append(
        "export",
        {"what": "audit", "since": since, "until": until, "kinds": list(kinds), "entries": count},
        actor=_who(),
    )


@requires(AUDIT_READ)
@audit.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 10000), default=20)
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable).")
@json_flag
@click.pass_obj
def audit_list(obj: Ctx, limit: int, kinds: tuple[str, ...], as_json: bool) -> None:
    """The most recent entries, newest first."""
    rows = obj.services().audit.entries(kinds=kinds, limit=limit, newest_first=True)
    echo_rows(rows, as_json, _line)
