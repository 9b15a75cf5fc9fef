"""`lockgate review`: the human review queue from the host. The operator acts as an admin of
one tenant (`--tenant`) under a reviewer name (`--reviewer`), through the same queue as the
HTTP API, so the same rules hold (one claim at a time, no deciding on one's own request) and
every decision is audited."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from lockgate.auth.durations import parse_duration
from lockgate.auth.roles import ADMIN
from lockgate.auth.scopes import REVIEW
from lockgate.cli.authz import caller, is_operator, requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag, ts
from lockgate.config import REVIEW_KINDS
from lockgate.engine.turn import Principal
from lockgate.review import (
    ReviewConflict,
    ReviewForbidden,
    ReviewInputError,
    ReviewNotFound,
    ReviewQueue,
)
from lockgate.review.views import summary
from lockgate.store.reviews import LIST_STATUSES, ReviewRecord


def _default_reviewer() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


tenant_option = click.option(
    "--tenant",
    default=None,
    help="The tenant's queue (the host's operator: default 'default'; a key: its own).",
)
reviewer_option = click.option(
    "--reviewer", default=_default_reviewer, help="Who decides (default: cli:$USER)."
)


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(status)


def _actor(obj: Ctx, tenant: str | None, reviewer: str) -> Principal:
    """Who decides: the host's operator as an admin of the tenant asked for, under the
    reviewer name given; a key as itself, in its own tenant only."""
    who = caller(obj)
    if is_operator(who):
        return Principal(id=reviewer, tenant=tenant or "default", roles=(ADMIN,))
    tenant_view(obj, tenant)  # refuses another tenant
    return who


def _run(fn: Callable[[], ReviewRecord]) -> ReviewRecord:
    try:
        return fn()
    except ReviewNotFound as exc:
        _fail(str(exc))
    except ReviewConflict as exc:
        _fail(str(exc), 3)
    except (ReviewForbidden, ReviewInputError) as exc:
        _fail(str(exc), 2)


def _age(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _line(r: dict[str, Any]) -> str:
    reasons = ",".join(
        str(x.get("kind")) + (f"({','.join(x['scanners'])})" if x.get("scanners") else "")
        for x in r["reasons"]
    )
    who = f" by {r['claimed_by'] or r['decided_by']}" if r["claimed_by"] or r["decided_by"] else ""
    return (
        f"{r['id']}  {ts(r['created_at'])}  {r['kind']:<12} {r['mode']:<7} "
        f"{r['status']:<8}{who}  {reasons}  {r['question'][:60]!r}"
    )


@click.group()
def review() -> None:
    """The human review queue: list, show, claim, approve, edit, reject; corrections."""


@requires(REVIEW)
@review.command("list")
@click.option(
    "--status",
    type=click.Choice([*LIST_STATUSES, "all"]),
    default="open",
    show_default=True,
)
@click.option("--kind", type=click.Choice(REVIEW_KINDS), default=None)
@click.option("--older-than", "older", default=None, help="Only items at least this old (2h).")
@click.option("--newer-than", "newer", default=None, help="Only items at most this old (1d).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@tenant_option
@json_flag
@click.pass_obj
def list_items(
    obj: Ctx,
    status: str,
    kind: str | None,
    older: str | None,
    newer: str | None,
    limit: int,
    tenant: str | None,
    as_json: bool,
) -> None:
    """Items of TENANT's queue, oldest first."""
    queue = obj.services().reviews
    found = queue.find(
        _actor(obj, tenant, _default_reviewer()),
        None if status == "all" else status,
        kind,
        _age(older),
        _age(newer),
        limit,
    )
    echo_rows([summary(r) for r in found], as_json, _line, "review item(s)")


def _show(queue: ReviewQueue, actor: Principal, rec: ReviewRecord, as_json: bool) -> None:
    view = queue.view(actor, rec)
    if as_json:
        dump(view)
        return
    status = "claimed" if view["claimed_by"] else rec.status
    click.echo(f"{rec.id}  {rec.kind}  {rec.mode}  {status}")
    click.echo(f"caller: {rec.principal} (tenant {rec.tenant}, app {rec.app or '-'})")
    click.echo(f"created: {ts(rec.created_at)}   trace: {rec.trace_id or '-'}")
    for reason in rec.reasons:
        click.echo(f"reason: {reason}")
    if rec.question:
        click.echo(f"question: {rec.question}")
    if rec.answer is not None:
        click.echo(f"answer: {rec.answer}")
    if rec.payload is not None:
        click.echo(f"tool call: {rec.payload}")
    if rec.excerpt:
        click.echo(f"excerpt: {rec.excerpt}")
    if view["claimed_by"]:
        click.echo(f"claimed by {view['claimed_by']} until {ts(view['claim_expires_at'])}")
    if rec.decided_by:
        click.echo(f"decided: {rec.status} by {rec.decided_by} at {ts(rec.decided_at)}")
        if "answer" in view and view["answer"] is not None and rec.kind != "tool_call":
            click.echo(f"final answer: {view['answer']}")
    if rec.callback_status:
        click.echo(f"callback: {rec.callback_status}")


@requires(REVIEW)
@review.command("show")
@click.argument("review_id")
@tenant_option
@json_flag
@click.pass_obj
def show(obj: Ctx, review_id: str, tenant: str | None, as_json: bool) -> None:
    """Everything about one item."""
    queue = obj.services().reviews
    actor = _actor(obj, tenant, _default_reviewer())
    _show(queue, actor, _run(lambda: queue.get(actor, review_id)), as_json)


@requires(REVIEW)
@review.command("claim")
@click.argument("review_id")
@tenant_option
@reviewer_option
@json_flag
@click.pass_obj
def claim(obj: Ctx, review_id: str, tenant: str | None, reviewer: str, as_json: bool) -> None:
    """Claim an item so no other reviewer decides it meanwhile (exit 3: someone else has)."""
    queue = obj.services().reviews
    actor = _actor(obj, tenant, reviewer)
    _show(queue, actor, _run(lambda: queue.claim(actor, review_id)), as_json)


def _decided(queue: ReviewQueue, actor: Principal, rec: ReviewRecord, as_json: bool) -> None:
    delivery = queue.notify(rec)
    if as_json:
        view = queue.view(actor, rec)
        if delivery is not None:
            view["callback"] = {"status": delivery.describe(), "attempts": delivery.attempts}
        dump(view)
        return
    click.echo(f"{rec.id}: {rec.status}")
    if delivery is not None:
        click.echo(f"callback: {delivery.describe()}")


@requires(REVIEW)
@review.command("approve")
@click.argument("review_id")
@click.option("--note", default=None)
@tenant_option
@reviewer_option
@json_flag
@click.pass_obj
def approve(
    obj: Ctx, review_id: str, note: str | None, tenant: str | None, reviewer: str, as_json: bool
) -> None:
    """Release the answer (or let the tool call run) as it is."""
    queue = obj.services().reviews
    actor = _actor(obj, tenant, reviewer)
    _decided(queue, actor, _run(lambda: queue.approve(actor, review_id, note)), as_json)


@requires(REVIEW)
@review.command("reject")
@click.argument("review_id")
@click.option("--reason", default=None)
@tenant_option
@reviewer_option
@json_flag
@click.pass_obj
def reject(
    obj: Ctx, review_id: str, reason: str | None, tenant: str | None, reviewer: str, as_json: bool
) -> None:
    """Withhold the answer (the caller gets the refusal) or stop the tool call."""
    queue = obj.services().reviews
    actor = _actor(obj, tenant, reviewer)
    _decided(queue, actor, _run(lambda: queue.reject(actor, review_id, reason)), as_json)


@requires(REVIEW)
@review.command("edit")
@click.argument("review_id")
@click.option("--text", default=None, help="The corrected answer ('-' reads standard input).")
@click.option("--arguments", default=None, help="Corrected tool call arguments, a JSON object.")
@click.option("--note", default=None)
@tenant_option
@reviewer_option
@json_flag
@click.pass_obj
def edit(
    obj: Ctx,
    review_id: str,
    text: str | None,
    arguments: str | None,
    note: str | None,
    tenant: str | None,
    reviewer: str,
    as_json: bool,
) -> None:
    """Release a corrected answer, kept as a correction for the evaluation set."""
    if (text is None) == (arguments is None):
        _fail("give exactly one of --text or --arguments", 2)
    if text == "-":
        text = sys.stdin.read()
    parsed: dict[str, Any] | None = None
    if arguments is not None:
        try:
            parsed = json.loads(arguments)
        except ValueError:
            _fail("--arguments must be a JSON object", 2)
    queue = obj.services().reviews
    actor = _actor(obj, tenant, reviewer)
    rec = _run(lambda: queue.edit(actor, review_id, text, parsed, note))
    _decided(queue, actor, rec, as_json)


def _correction(c: dict[str, Any]) -> str:
    return (
        f"{c['id']}  {ts(c['metadata']['created_at'])}  by {c['metadata']['reviewer']}  "
        f"{c['question'][:60]!r} -> {c['expected'][:60]!r}"
    )


@requires(REVIEW)
@review.command("corrections")
@tenant_option
@json_flag
@click.pass_obj
def corrections(obj: Ctx, tenant: str | None, as_json: bool) -> None:
    """Reviewers' corrections as evaluation cases (question, expected answer, the rejected
    model answer)."""
    cases = obj.services().reviews.eval_cases(_actor(obj, tenant, _default_reviewer()))
    echo_rows(cases, as_json, _correction, "correction(s)")
