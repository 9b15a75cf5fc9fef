"""`lockgate keys`: API keys on this host. Creating the first admin key here is the
bootstrap; there is no default password. A key is printed once, when made or rotated."""

from __future__ import annotations

import sys
from typing import Any

import click

from lockgate.auth.durations import parse_duration
from lockgate.auth.keys import KeyInputError, KeyNotFound
from lockgate.auth.roles import ROLES
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag, ts
from lockgate.store.keys import KeyRecord

# The option of `keys create` that carries each field of a new key.
_OPTION = {
    "roles": "--role",
    "groups": "--groups",
    "name": "--name",
    "tenant": "--tenant",
    "app": "--app",
}


@click.group()
def keys() -> None:
    """Create, list, revoke and rotate API keys."""


def _fail(message: str, status: int = 2) -> None:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(status)


def _show_new(rec: KeyRecord, key: str, as_json: bool) -> None:
    if as_json:
        dump({"id": rec.id, "key": key, "prefix": rec.prefix})
        return
    click.echo(key)
    click.echo(
        f"(id {rec.id}, name {rec.name}, tenant {rec.tenant}, roles {','.join(rec.roles)}; "
        "store the key now: it is not shown again)",
        err=True,
    )


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key speaks for.")
@click.option("--tenant", required=True)
@click.option(
    "--role", "roles", required=True, multiple=True, help=f"Repeatable; one of {', '.join(ROLES)}."
)
@click.option("--groups", default="", help="Comma-separated groups, e.g. finance,legal.")
@click.option("--expires", default=None, help="Lifetime, e.g. 90d, 12h (default: no expiry).")
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="The app the key runs as, which picks its guardrail policy. Repeatable: the key may "
    "then choose among them with x-lockgate-app, the first being its default.",
)
@json_flag
@click.pass_obj
def create(
    obj: Ctx,
    name: str,
    tenant: str,
    roles: tuple[str, ...],
    groups: str,
    expires: str | None,
    apps: tuple[str, ...],
    as_json: bool,
) -> None:
    """Make a key and print it once."""
    try:
        lifetime = parse_duration(expires) if expires is not None else None
    except ValueError as exc:
        _fail(f"--expires: {exc}")
        return
    wanted = [g.strip() for g in groups.split(",") if g.strip()]
    role_list = [r.strip() for value in roles for r in value.split(",") if r.strip()]
    try:
        rec, key = obj.services().api_keys.create(
            name, tenant, role_list, wanted, lifetime, created_by="cli", apps=list(apps)
        )
    except KeyInputError as exc:
        _fail(f"{_OPTION.get(exc.field, exc.field)}: {exc}")
        return
    _show_new(rec, key, as_json)


@keys.command("list")
@json_flag
@click.pass_obj
def list_keys(obj: Ctx, as_json: bool) -> None:
    """Every key with its state; never a secret or a hash."""
    records = {r.id: r for r in obj.services().api_keys.list()}

    def line(row: dict[str, Any]) -> str:
        r = records[row["id"]]
        state = "revoked" if r.revoked_at else "active"
        expires = ts(r.expires_at) if r.expires_at is not None else "never"
        return (
            f"{r.id}  {r.prefix}  {r.name}  tenant={r.tenant}  roles={','.join(r.roles)}  "
            f"groups={','.join(r.groups) or '-'}  apps={','.join(r.apps) or '-'}  "
            f"expires={expires}  {state}"
        )

    echo_rows([r.public() for r in records.values()], as_json, line, counted="keys")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
def revoke(obj: Ctx, key_id: str) -> None:
    """Stop a key working, at once and for good."""
    try:
        rec = obj.services().api_keys.revoke(key_id)
    except KeyNotFound as exc:
        _fail(str(exc), 1)
        return
    click.echo(f"revoked {rec.id} ({rec.prefix}, {rec.name})")


@keys.command("rotate")
@click.argument("key_id")
@json_flag
@click.pass_obj
def rotate(obj: Ctx, key_id: str, as_json: bool) -> None:
    """A new secret for the same key; the old one stops working. Printed once."""
    try:
        rec, key = obj.services().api_keys.rotate(key_id)
    except KeyNotFound as exc:
        _fail(str(exc), 1)
        return
    _show_new(rec, key, as_json)
