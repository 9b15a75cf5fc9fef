"""`lockgate docs` and `lockgate chunks`: the documents in the knowledge base and their chunks.
(`docs retry` re-runs ingest, so it lives in ingest.py.)"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from lockgate.auth.scopes import DOCS_READ
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag

if TYPE_CHECKING:
    from lockgate.store.quality import QualityStore


@click.group()
def docs() -> None:
    """Look at the knowledge base."""


def _document(r: dict[str, Any]) -> str:
    extra = f" of #{r['duplicate_of']}" if r["duplicate_of"] else ""
    if r.get("superseded_by"):  # an older near-duplicate version
        extra += f" superseded by #{r['superseded_by']}"
    if r.get("near_dup_group"):
        extra += f" group {r['near_dup_group']}"
    return (
        f"#{r['id']:<5} {r['status']:<9}{extra} v{r['version'] or '-'} "
        f"{r['format'] or '-':<8} {r['chunk_count'] or 0:>4} chunks  {r['source']}"
    )


@requires(DOCS_READ)
@docs.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include retired documents.")
@json_flag
@click.pass_obj
def docs_list(obj: Ctx, show_all: bool, as_json: bool) -> None:
    """Documents with their current version and status."""
    rows = obj.services().documents.list_documents()
    if not show_all:
        rows = [r for r in rows if r["status"] != "retired"]
    echo_rows(rows, as_json, _document, "document(s)")


def _quarantined(r: dict[str, Any]) -> str:
    detail = f" - {r['detail']}" if r["detail"] else ""
    return f"{r['reason']:<12} x{r['attempts']:<3} {r['source']}{detail}"


@requires(DOCS_READ)
@docs.command("quarantine")
@json_flag
@click.pass_obj
def docs_quarantine(obj: Ctx, as_json: bool) -> None:
    """Files that could not be ingested, with the reason. They are retried on every ingest."""
    rows = obj.services().documents.list_quarantine()
    echo_rows(rows, as_json, _quarantined, "quarantined file(s)")


def _stale(r: dict[str, Any]) -> str:
    owner = f" owner {r['owner']}" if r["owner"] else ""
    return f"#{r['id']:<5} v{r['version']} {'; '.join(r['reasons'])}{owner}  {r['source']}"


@requires(DOCS_READ)
@docs.command("stale")
@json_flag
@click.pass_obj
def docs_stale(obj: Ctx, as_json: bool) -> None:
    """Documents past their review-by date or superseded by a newer near-duplicate."""
    from lockgate.store.quality import QualityStore

    rows = QualityStore(obj.services().engine).stale()
    echo_rows(rows, as_json, _stale, "stale document(s)")


_VERSION_KEYS = (
    "version",
    "content_hash",
    "format",
    "parser",
    "parser_version",
    "chunker",
    "language",
    "encoding",
    "owner",
    "review_by",
    "effective_date",
    "dates",
    "normalize",
)


@requires(DOCS_READ)
@docs.command("show")
@click.argument("doc")
@json_flag
@click.pass_obj
def docs_show(obj: Ctx, doc: str, as_json: bool) -> None:
    """One document's current version: lineage, language, dates, freshness, group."""
    from lockgate.store.quality import QualityStore

    q = QualityStore(obj.services().engine)
    found = _find(q, doc)
    version = q.version(found["current_version_id"]) if found["current_version_id"] else {}
    row = obj.services().documents.list_documents()
    info = next((r for r in row if r["id"] == found["id"]), {})
    group = q.group_members(info["near_dup_group"]) if info.get("near_dup_group") else []
    data = {"document": info, "version": version, "near_duplicate_group": group}
    if as_json:
        dump(data)
        return
    for key in ("id", "source", "status", "superseded_by", "near_dup_group"):
        click.echo(f"{key:>16}: {info.get(key)}")
    for key in _VERSION_KEYS:
        click.echo(f"{key:>16}: {version.get(key)}")
    for m in group:
        mark = "*" if not m["superseded_by"] else " "
        click.echo(
            f"   {mark} #{m['id']} v{m['version']} {m['effective_date'] or '-'} {m['source']}"
        )


def _find(q: QualityStore, doc: str) -> dict[str, Any]:
    found = q.find_document(doc)
    if found is None:
        click.echo(f"lockgate: no single document matches '{doc}'", err=True)
        sys.exit(1)
    return dict(found)


@click.group()
def chunks() -> None:
    """Look at how documents were chunked."""


@requires(DOCS_READ)
@chunks.command("inspect")
@click.argument("doc")
@click.option("--full", is_flag=True, help="Print whole chunk texts.")
@json_flag
@click.pass_obj
def chunks_inspect(obj: Ctx, doc: str, full: bool, as_json: bool) -> None:
    """The chunks of DOC (id, source path, or a unique end of it) with their lineage."""
    from lockgate.store.quality import QualityStore

    q = QualityStore(obj.services().engine)
    found = _find(q, doc)
    if not found["current_version_id"]:
        click.echo(
            f"lockgate: document #{found['id']} has no current version ({found['status']})",
            err=True,
        )
        sys.exit(1)
    version = q.version(found["current_version_id"])
    rows = q.version_chunks(found["current_version_id"])
    if as_json:
        dump(
            {
                "document_id": found["id"],
                "source": found["source"],
                "version": version,
                "chunks": rows,
            }
        )
        return
    click.echo(
        f"#{found['id']} {found['source']} v{version['version']}  {version['format']} via "
        f"{version['parser']}/{version['parser_version']}  chunker {version['chunker']}  "
        f"lang {version['language'] or '-'}  sha256 {version['content_hash'][:12]}"
    )
    sizes = [len(r["text"]) for r in rows]
    if sizes:
        click.echo(
            f"{len(rows)} chunks, chars min {min(sizes)} / "
            f"mean {sum(sizes) // len(sizes)} / max {max(sizes)}"
        )
    for r in rows:
        where = f"p.{r['page']}" if r["page"] else "-"
        head = " > ".join(r["heading_path"])
        click.echo(f"[{r['position']:>3}] chunk {r['id']}  {where}  {len(r['text'])} chars  {head}")
        text = r["text"] if full else " ".join(r["text"].split())[:160]
        click.echo(f"      {text}")
