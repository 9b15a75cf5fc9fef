"""Scopes for CLI commands: each command declares the one it needs with `@requires(scope)`,
as each HTTP route does, and runs only when the caller may use it.

Who the caller is: with an API key (`lockgate --api-key lg_...` or LOCKGATE_API_KEY) the
key's principal, checked against the store like the gateway checks it, with its roles'
scopes and its tenant; without one, the host's operator, trusted as admin (whoever can run
the CLI here can read the store anyway), unless `auth.cli_requires_key` is set. A refusal is
exit status 3 with a message naming the scope. A command that declares no scope runs only
for the trusted operator: no key may reach what nobody decided a key may reach.

Commands marked `remote` act through the HTTP gateway (`lockgate ask`): the gateway checks
their key, which may belong to another host's store, so nothing is checked here."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from lockgate.auth.roles import ADMIN

if TYPE_CHECKING:
    from lockgate.cli.context import Ctx
    from lockgate.engine.turn import Principal

C = TypeVar("C", bound=click.Command)
DENIED = 3  # exit status of a refused command (2 is a usage or config error)
_SCOPE = "lockgate_scope"
_REMOTE = "lockgate_remote"
_WRAPPED = "lockgate_scope_checked"
HOST = "host"  # the auth method of the trusted operator: no key was given


@functools.cache
def operator() -> Principal:
    """The host's operator when no key is given: admin. Built on first use: the engine's
    types are not imported for `--help`."""
    from lockgate.engine.turn import Principal

    return Principal(id="cli-operator", tenant="*", roles=(ADMIN,), auth_method=HOST)


def is_operator(who: Principal) -> bool:
    return who.auth_method == HOST and not who.authenticated


def requires(scope: str, remote: bool = False) -> Callable[[C], C]:
    """Declare the scope a command needs (`lockgate.auth.scopes`). Put it above the click
    decorators so it receives the finished command."""
    from lockgate.auth.scopes import SCOPES

    if scope not in SCOPES:
        raise ValueError(f"unknown scope '{scope}' (known: {', '.join(SCOPES)})")

    def mark(command: C) -> C:
        setattr(command, _SCOPE, scope)
        setattr(command, _REMOTE, remote)
        return command

    return mark


def scope_of(command: click.Command) -> str | None:
    found = getattr(command, _SCOPE, None)
    return found if isinstance(found, str) else None


def leaves(group: click.Group, path: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every runnable command under `group` with its full name ("traces list")."""
    for name, command in sorted(group.commands.items()):
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            yield from leaves(command, full)
        else:
            yield full, command


def guard_commands(group: click.Group) -> None:
    """Wrap every command's callback with the scope check (once; safe to call again after
    plugins added commands)."""
    for name, command in leaves(group):
        callback = command.callback
        if callback is None or getattr(callback, _WRAPPED, False):
            continue
        command.callback = _checked(callback, name, command)


def _checked(callback: Callable[..., Any], name: str, command: click.Command) -> Any:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from lockgate.cli.context import Ctx

        obj = click.get_current_context().find_object(Ctx)
        if obj is not None and not getattr(command, _REMOTE, False):
            authorize(obj, name, scope_of(command))
        return callback(*args, **kwargs)

    setattr(run, _WRAPPED, True)
    return run


def refuse(message: str) -> NoReturn:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(DENIED)


def caller(obj: Ctx) -> Principal:
    """The principal running this command: the key's, or the trusted operator."""
    if obj.principal is not None:
        return obj.principal
    key = obj.api_key
    if not key:
        if obj.settings.auth.cli_requires_key:
            refuse(
                "this host requires an API key for every command (auth.cli_requires_key): "
                "pass --api-key lg_... or set LOCKGATE_API_KEY"
            )
        obj.principal = operator()
        return obj.principal
    from lockgate.auth.keys import AuthFailure

    try:
        obj.principal = obj.services().api_keys.verify(key)
    except AuthFailure as exc:
        refuse(f"the API key was refused: {exc.message}")
    return obj.principal


def authorize(obj: Ctx, name: str, scope: str | None) -> Principal:
    """The caller, when it may run command `name`; exit 3 otherwise."""
    who = caller(obj)
    if is_operator(who):
        return who
    if scope is not None and obj.services().scopes.allows(who.roles, scope):
        return who
    _record_denial(obj, who, name, scope)
    if scope is None:
        refuse(f"'lockgate {name}' declares no scope, so no API key may run it")
    refuse(
        f"'lockgate {name}' needs the '{scope}' scope, which the roles of key {who.key_id} "
        f"({', '.join(who.roles)}) do not grant"
    )


def _record_denial(obj: Ctx, who: Principal, name: str, scope: str | None) -> None:
    from lockgate.engine.run import emit
    from lockgate.observability.events import AccessDenied

    event = AccessDenied(
        "", who.id, who.tenant, who.key_id, scope or "(undeclared)", "CLI", name, "cli"
    )
    emit([event], obj.services())


def tenant_view(obj: Ctx, requested: str | None) -> str | None:
    """The tenant a command reads (None: every tenant). The operator and principals of
    `auth.operator_tenant` read what they ask for; any other key reads its own tenant, and
    asking for another is refused."""
    who = caller(obj)
    operator_tenant = obj.settings.auth.operator_tenant
    if is_operator(who) or (operator_tenant is not None and who.tenant == operator_tenant):
        return requested
    if requested is not None and requested != who.tenant:
        refuse(f"key {who.key_id} belongs to tenant '{who.tenant}' and cannot read '{requested}'")
    return who.tenant


def group_view(obj: Ctx) -> tuple[str, ...] | None:
    """The groups a command's reads of group-restricted rows (traces) are checked against;
    None: no check, for the operator, principals of `auth.operator_tenant` and admins."""
    who = caller(obj)
    operator_tenant = obj.settings.auth.operator_tenant
    if is_operator(who) or (operator_tenant is not None and who.tenant == operator_tenant):
        return None
    return None if ADMIN in who.roles else tuple(who.groups)
