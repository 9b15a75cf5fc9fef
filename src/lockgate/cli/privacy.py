"""`lockgate privacy`: a person's data (export, forget) and the retention purge. Each action
is recorded in the audit log under a hash of the subject, never the subject itself."""

from __future__ import annotations

import getpass
import hashlib
import json
import sys

import click

from lockgate.auth.scopes import PRIVACY_ADMIN
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


def _subject_ref(subject: str) -> str:
    return "sha256:" + hashlib.sha256(subject.encode()).hexdigest()[:32]


@click.group()
def privacy() -> None:
    """Data subjects: export or erase everything about one caller; purge by retention."""


@requires(PRIVACY_ADMIN)
@privacy.command("export")
@click.option("--subject", required=True, help="The principal id (the caller) to export.")
@click.pass_obj
def export(obj: Ctx, subject: str) -> None:
    """Print everything stored about SUBJECT as JSON."""
    services = obj.services()
    data = services.privacy.export(subject)
    services.audit.append(
        "privacy.export",
        {"subject": _subject_ref(subject), "traces": len(data["traces"])},
        actor=f"cli:{getpass.getuser()}",
    )
    click.echo(json.dumps(data, indent=2, default=str))


@requires(PRIVACY_ADMIN)
@privacy.command("forget")
@click.option("--subject", required=True, help="The principal id (the caller) to erase.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_flag
@click.pass_obj
def forget(obj: Ctx, subject: str, yes: bool, as_json: bool) -> None:
    """Erase SUBJECT's traces, review items, corrections, files, batches and the answers
    cached from them."""
    if not yes and not click.confirm(f"Erase everything stored about '{subject}'?"):
        sys.exit(1)
    services = obj.services()
    counts = services.privacy.forget(subject)
    services.audit.append(
        "privacy.forget",
        {"subject": _subject_ref(subject), **counts},
        actor=f"cli:{getpass.getuser()}",
    )
    if as_json:
        dump(counts)
        return
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@requires(PRIVACY_ADMIN)
@privacy.command("purge")
@json_flag
@click.pass_obj
def purge(obj: Ctx, as_json: bool) -> None:
    """Remove every record past its retention (`retention:` in the config) now."""
    services = obj.services()
    counts = services.privacy.purge(services.retention())
    services.audit.append("privacy.purge", counts, actor=f"cli:{getpass.getuser()}")
    if as_json:
        dump(counts)
        return
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
