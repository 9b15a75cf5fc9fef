"""`lockgate prompts`: the prompt registry. Prompt files (YAML, one prompt each) live in the
user's repository; `push` stores each new content as the next immutable version, labels
(`production`, `staging`, ...) say which version answers, and `rollback` moves a label back.
Every push and label move is in the audit log with who did it."""

from __future__ import annotations

import difflib
import getpass
import sys
from pathlib import Path
from typing import NoReturn

import click

from lockgate.auth.scopes import PROMPTS_READ, PROMPTS_WRITE
from lockgate.cli.authz import caller, is_operator, requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag, ts
from lockgate.observability.events import PromptLabelMoved, PromptPushed
from lockgate.prompts.spec import PromptSpecError, load_specs, parse_ref, spec_of
from lockgate.store.prompts import (
    LabelMove,
    PromptInputError,
    PromptNotFound,
    PromptStore,
    PromptVersion,
)


@click.group()
def prompts() -> None:
    """Versioned, labelled prompts: push, list, show, diff, label, rollback."""


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(status)


def _actor(obj: Ctx) -> str:
    who = caller(obj)
    if is_operator(who):
        try:
            return f"cli:{getpass.getuser()}"
        except Exception:  # noqa: BLE001 - no user name in this environment
            return "cli"
    return who.id


def _store(obj: Ctx) -> PromptStore:
    return obj.services().prompt_store


def _version(store: PromptStore, name: str, target: str) -> PromptVersion:
    """Version `target` of `name`: a number, or a label."""
    try:
        if target.isdigit():
            return store.get(name, int(target))
        return store.get(name, store.label_seq(name, target))
    except PromptNotFound as exc:
        _fail(str(exc))


def _resolve_ref(store: PromptStore, ref: str) -> PromptVersion:
    try:
        name, label, version = parse_ref(ref)
    except ValueError as exc:
        _fail(str(exc), 2)
    try:
        if version is not None:
            return store.get(name, version)
        if label is not None:
            return store.get(name, store.label_seq(name, label))
        return store.latest(name)
    except PromptNotFound as exc:
        _fail(str(exc))


def _announce(obj: Ctx, move: LabelMove, action: str, actor: str) -> None:
    event = PromptLabelMoved("", actor, move.name, move.label, action, move.from_seq, move.to_seq)
    obj.services().emit([event])


@requires(PROMPTS_WRITE)
@prompts.command("push")
@click.argument("path", type=click.Path(path_type=Path))
@json_flag
@click.pass_obj
def push(obj: Ctx, path: Path, as_json: bool) -> None:
    """Store the prompt files at PATH (a .yaml file or a folder): each new content becomes
    the next version of its prompt; unchanged content is reported and not stored again."""
    try:
        found = load_specs(path)
    except PromptSpecError as exc:
        _fail(str(exc), 2)
    models = obj.settings.models
    for file, spec in found:
        wanted = spec.model.model if spec.model is not None else None
        if wanted and wanted not in models:
            click.echo(
                f"lockgate: warning: {file}: model '{wanted}' is not in this config's models; "
                "turns answered with this prompt will fail until it is",
                err=True,
            )
    store, actor = _store(obj), _actor(obj)
    rows = []
    for file, spec in found:
        result = store.push(spec.name, spec.hash, spec.canonical(), actor)
        if result.created:
            obj.services().emit(
                [PromptPushed("", actor, spec.name, result.seq, result.hash, str(file))]
            )
        rows.append(
            {
                "name": result.name,
                "version": result.seq,
                "hash": result.hash,
                "status": "created" if result.created else "unchanged",
                "file": str(file),
            }
        )

    def line(row: dict[str, object]) -> str:
        digest = str(row["hash"])[:12]
        if row["status"] == "created":
            return f"{row['name']}: version {row['version']} stored (sha256 {digest})"
        return f"{row['name']}: unchanged (version {row['version']}, sha256 {digest})"

    echo_rows(rows, as_json, line)


@requires(PROMPTS_READ)
@prompts.command("list")
@json_flag
@click.pass_obj
def list_prompts(obj: Ctx, as_json: bool) -> None:
    """Every prompt: its latest version and where its labels point."""
    rows = [
        {"name": s.name, "latest": s.latest, "labels": s.labels} for s in _store(obj).summaries()
    ]

    def line(row: dict[str, object]) -> str:
        labels = row["labels"]
        assert isinstance(labels, dict)
        shown = " ".join(f"{k}=v{v}" for k, v in labels.items()) or "-"
        return f"{row['name']}  latest v{row['latest']}  labels {shown}"

    echo_rows(rows, as_json, line, counted="prompts")


@requires(PROMPTS_READ)
@prompts.command("show")
@click.argument("ref")
@json_flag
@click.pass_obj
def show(obj: Ctx, ref: str, as_json: bool) -> None:
    """The content of REF: NAME (its latest version), NAME@LABEL or NAME@N."""
    store = _store(obj)
    found = _resolve_ref(store, ref)
    labels = [k for k, v in store.labels(found.name).items() if v == found.seq]
    spec = spec_of(found.content)
    if as_json:
        dump({**found.public(), "labels": labels, "spec": spec.model_dump(exclude_none=True)})
        return
    click.echo(
        f"# {found.name} version {found.seq}  sha256 {found.hash}  "
        f"labels {','.join(labels) or '-'}  pushed {ts(found.created_at)} "
        f"by {found.created_by or '-'}"
    )
    click.echo(spec.to_yaml(), nl=False)


@requires(PROMPTS_READ)
@prompts.command("diff")
@click.argument("name")
@click.argument("a")
@click.argument("b")
@click.pass_obj
def diff(obj: Ctx, name: str, a: str, b: str) -> None:
    """A unified diff of two versions of NAME; A and B are version numbers or labels."""
    store = _store(obj)
    old, new = _version(store, name, a), _version(store, name, b)
    lines = difflib.unified_diff(
        spec_of(old.content).to_yaml().splitlines(keepends=True),
        spec_of(new.content).to_yaml().splitlines(keepends=True),
        fromfile=f"{name}@{a} (version {old.seq})",
        tofile=f"{name}@{b} (version {new.seq})",
    )
    text = "".join(lines)
    click.echo(text or f"{name}: versions {old.seq} and {new.seq} have the same content", nl=False)
    if not text:
        click.echo()


@requires(PROMPTS_WRITE)
@prompts.command("label")
@click.argument("name")
@click.argument("label")
@click.argument("version", type=click.IntRange(min=1))
@click.pass_obj
def label(obj: Ctx, name: str, label: str, version: int) -> None:
    """Point LABEL of prompt NAME at VERSION. Gateways follow within
    `grounded.prompt_cache_ttl_s` seconds, without a restart."""
    actor = _actor(obj)
    try:
        move = _store(obj).set_label(name, label, version, actor)
    except PromptNotFound as exc:
        _fail(str(exc))
    except PromptInputError as exc:
        _fail(str(exc), 2)
    if not move.changed:
        click.echo(f"{name}@{label}: unchanged (already version {version})")
        return
    _announce(obj, move, "label", actor)
    before = f"version {move.from_seq}" if move.from_seq is not None else "nothing"
    click.echo(f"{name}@{label}: version {move.to_seq} (was {before})")


@requires(PROMPTS_WRITE)
@prompts.command("rollback")
@click.argument("name")
@click.option("--label", "label_name", default="production", show_default=True)
@click.pass_obj
def rollback(obj: Ctx, name: str, label_name: str) -> None:
    """Move a label of NAME back to the version it pointed at before its last move."""
    actor = _actor(obj)
    try:
        move = _store(obj).rollback(name, label_name, actor)
    except PromptNotFound as exc:
        _fail(str(exc))
    except PromptInputError as exc:
        _fail(str(exc), 2)
    _announce(obj, move, "rollback", actor)
    click.echo(f"{name}@{label_name}: version {move.to_seq} (rolled back from {move.from_seq})")
