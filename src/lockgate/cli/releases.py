"""`lockgate release`: staged releases of prompt pins, model choices and parameters.

create -> promote (--pilot, --percent, --full) -> status; rollback by hand, or `check` (the
monitor, as `lockgate serve` runs it) rolls back a rollout release that does worse than the
current one. Every change is in the audit log with who made it."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from lockgate.auth.scopes import RELEASES_ADMIN, RELEASES_READ
from lockgate.cli.authz import caller, is_operator, requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag, ts
from lockgate.releases.model import Release, ReleaseError, parse_params, parse_prompts

FAILED = 1  # a refused change (the state machine, an unknown release or model)
USAGE = 2


def _fail(message: str, status: int = FAILED) -> NoReturn:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(status)


def _actor(obj: Ctx) -> str:
    who = caller(obj)
    if is_operator(who):
        return f"cli:{getpass.getuser()}"
    return who.id if who.key_id is None else f"{who.id} (key {who.key_id})"


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip() or not raw.strip():
            _fail(f"{option} takes NAME=VALUE, not '{value}'", USAGE)
        out[key.strip()] = raw.strip()
    return out


def _line(r: Release) -> str:
    where = r.stage
    if r.stage == "percentage":
        where += f" {r.percent:g}%"
    if r.stage in ("pilot", "percentage") and r.pilot:
        where += f" pilot={','.join(r.pilot)}"
    model = r.model or "-"
    return f"{r.name:<24} {where:<32} model={model:<20} {ts(r.updated_at)}"


@click.group("release")
def release() -> None:
    """Staged releases: pilot -> percentage -> full, with automatic rollback."""


@requires(RELEASES_ADMIN)
@release.command("create")
@click.argument("name")
@click.option("--prompt", "prompts", multiple=True, help="Pin a prompt: NAME=VERSION.")
@click.option("--model", default=None, help="The registry model grounded turns use.")
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    help="For pass-through turns: REQUESTED=MODEL (a request for REQUESTED goes to MODEL).",
)
@click.option("--param", "params", multiple=True, help="temperature=, top_p= or max_tokens=.")
@json_flag
@click.pass_obj
def create(
    obj: Ctx,
    name: str,
    prompts: tuple[str, ...],
    model: str | None,
    aliases: tuple[str, ...],
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Make a release (stage draft); it serves nobody until promoted."""
    try:
        made = obj.services().release_admin.create(
            name,
            _actor(obj),
            prompts=parse_prompts(_pairs(prompts, "--prompt")),
            model=model,
            models=_pairs(aliases, "--alias"),
            params=parse_params(_pairs(params, "--param")),
        )
    except ReleaseError as exc:
        _fail(str(exc))
    if as_json:
        dump(made.as_dict())
        return
    click.echo(f"created release {made.name} (draft)")


@requires(RELEASES_ADMIN)
@release.command("promote")
@click.argument("name")
@click.option("--pilot", default=None, help="Serve only these: principal ids, key:<key id>.")
@click.option("--percent", type=float, default=None, help="Serve this share of callers.")
@click.option("--full", "full", is_flag=True, help="Serve everyone: it becomes current.")
@json_flag
@click.pass_obj
def promote(
    obj: Ctx, name: str, pilot: str | None, percent: float | None, full: bool, as_json: bool
) -> None:
    """Move a release to its next stage (exactly one of --pilot, --percent, --full)."""
    chosen = [
        flag
        for flag, on in (
            ("--pilot", pilot is not None),
            ("--percent", percent is not None),
            ("--full", full),
        )
        if on
    ]
    if len(chosen) != 1:
        _fail("give exactly one of --pilot, --percent or --full", USAGE)
    target = "pilot" if pilot is not None else "percentage" if percent is not None else "full"
    members = [p for p in (pilot or "").split(",") if p.strip()]
    try:
        moved = obj.services().release_admin.promote(name, target, _actor(obj), percent, members)
    except ReleaseError as exc:
        _fail(str(exc))
    if as_json:
        dump(moved.as_dict())
        return
    click.echo(f"release {_line(moved)}")


@requires(RELEASES_ADMIN)
@release.command("rollback")
@click.argument("name")
@click.option("--reason", required=True, help="Why: kept in the audit log and the history.")
@json_flag
@click.pass_obj
def rollback(obj: Ctx, name: str, reason: str, as_json: bool) -> None:
    """Stop serving a release; the current release serves its callers again."""
    try:
        done = obj.services().release_admin.rollback(name, reason, _actor(obj))
    except ReleaseError as exc:
        _fail(str(exc))
    if as_json:
        dump(done.as_dict())
        return
    current, _ = obj.services().releases.active()
    click.echo(f"release {done.name} rolled back; current: {current.name if current else '-'}")


@requires(RELEASES_READ)
@release.command("list")
@json_flag
@click.pass_obj
def list_releases(obj: Ctx, as_json: bool) -> None:
    """Every release, newest first."""
    found = obj.services().releases.all()
    if as_json:
        dump([r.as_dict() for r in found])
        return
    for r in found:
        click.echo(_line(r))
    click.echo(f"{len(found)} releases")


@requires(RELEASES_READ)
@release.command("status")
@click.argument("name", required=False)
@json_flag
@click.pass_obj
def status(obj: Ctx, name: str | None, as_json: bool) -> None:
    """The current and rollout releases (or NAME), its history, and the live window's
    metrics side by side with the release it is judged against."""
    services = obj.services()
    store = services.releases
    current, rollout = store.active()
    if name is not None:
        shown = store.get(name)
        if shown is None:
            _fail(f"no release named '{name}'")
    else:
        shown = rollout or current
    verdict = services.release_monitor.check(act=False)
    out: dict[str, Any] = {
        "current": current.name if current else None,
        "rollout": rollout.name if rollout else None,
        "release": shown.as_dict() if shown else None,
        "history": [c.as_dict() for c in store.history(shown.name)] if shown else [],
        "window": verdict.as_dict()
        if verdict and shown and verdict.release == shown.name
        else None,
    }
    if as_json:
        dump(out)
        return
    click.echo(f"current: {out['current'] or '-'}   rollout: {out['rollout'] or '-'}")
    if shown is None:
        click.echo("no release serves anybody")
        return
    click.echo(_line(shown))
    for c in store.history(shown.name):
        why = c.detail.get("reason") or ""
        click.echo(f"  {ts(c.at)}  {c.from_stage or '-':>11} -> {c.to_stage:<11} {c.actor}  {why}")
    if out["window"] is not None:
        _echo_verdict(out["window"])


def _echo_verdict(v: dict[str, Any]) -> None:
    against = v["against"] or "(no release)"
    click.echo(f"window: {v['release']} against {against}")
    for key in v["candidate"]:
        a, b = v["candidate"][key], v["baseline"][key]
        click.echo(f"  {key:<24} {'-' if a is None else a!s:>14} {'-' if b is None else b!s:>14}")
    for b in v["breaches"]:
        click.echo(f"  BREACH {b['metric']}: {b['candidate']} (limit {b['limit']})")
    if v["waiting"]:
        click.echo(f"  not enough data yet: {', '.join(v['waiting'])}")


@requires(RELEASES_ADMIN)
@release.command("check")
@click.option("--dry-run", is_flag=True, help="Report breaches; roll nothing back.")
@json_flag
@click.pass_obj
def check(obj: Ctx, dry_run: bool, as_json: bool) -> None:
    """Run the monitor once: judge the rollout release, roll it back on a breach."""
    verdict = obj.services().release_monitor.check(act=not dry_run)
    if as_json:
        dump(verdict.as_dict() if verdict else None)
        return
    if verdict is None:
        click.echo("no release in rollout")
        return
    _echo_verdict(verdict.as_dict())
    click.echo(f"release {verdict.release} rolled back" if verdict.rolled_back else "no rollback")
