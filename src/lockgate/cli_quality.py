"""CLI commands for issue 5 (part b): source sync and watching, quarantine retry, run
reports, stale documents, chunk inspection, sources. Registered onto `lockgate` by cli.py."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from lockgate.cli import Ctx
    from lockgate.ingest.pipeline import IngestSummary
    from lockgate.ingest.sync import SourceSync


def _cli() -> Any:
    from lockgate import cli

    return cli


def _sync(obj: Ctx) -> SourceSync:
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.ingest.sync import SourceSync
    from lockgate.store.quality import QualityStore
    from lockgate.store.sources import SourceStore

    services = obj.services()
    ingestor = Ingestor(
        services.documents,
        services.runs,
        services.embedder,
        obj.settings.ingest,
        exclude=[obj.settings.home],
    )
    return SourceSync(
        ingestor,
        SourceStore(services.engine),
        QualityStore(services.engine),
        skip=(Path(obj.settings.home),),
    )


def _print_summary(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        _cli()._dump(summary.as_dict())
        return
    click.echo(
        f"seen {summary.seen}  new {summary.new}  updated {summary.updated}  "
        f"unchanged {summary.unchanged}  duplicates {summary.duplicates}  "
        f"quarantined {summary.quarantined}  retired {summary.retired}  "
        f"chunks {summary.chunks}  in {summary.seconds:.1f}s"
    )
    for q in summary.quarantined_files:
        click.echo(f"  quarantined {q.source}: {q.reason}{' - ' + q.detail if q.detail else ''}")
    if summary.ocr_pages or summary.ocr_low_confidence:  # issue 5a
        click.echo(f"  OCR: {summary.ocr_pages} page(s) read")
    for low in summary.ocr_low_confidence:
        click.echo(
            f"  low OCR confidence {low['source']} page {low['page']}: "
            f"{low['confidence']:.2f} ({low['action']})"
        )
    for src in summary.sources:
        if src.get("error"):
            click.echo(f"  source {src['name']} failed: {src['error']}", err=True)
    if summary.near_duplicates.get("superseded"):
        nd = summary.near_duplicates
        click.echo(f"  near-duplicates: {nd['groups']} group(s), {nd['superseded']} superseded")
    for alert in summary.alerts:
        click.echo(
            f"  ALERT {alert['kind']}: +{alert['growth']} (total {alert['total']})", err=True
        )


def run_ingest(
    obj: Ctx,
    paths: tuple[str, ...],
    prune: bool,
    as_json: bool,
    source_names: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    watch: bool,
    interval: float | None,
) -> None:
    from lockgate.ingest.sync import spec_for

    if not paths and not source_names:
        click.echo("lockgate: give PATHS or --source NAME", err=True)
        sys.exit(2)
    remote = ("http://", "https://", "s3://")
    missing = [p for p in paths if not p.startswith(remote) and not Path(p).exists()]
    if missing:
        click.echo(f"lockgate: no such file or folder: {', '.join(missing)}", err=True)
        sys.exit(2)
    configured = {s.name: s for s in obj.settings.ingest.sources}
    unknown = [n for n in source_names if n not in configured]
    if unknown:
        click.echo(f"lockgate: unknown source: {', '.join(unknown)}", err=True)
        sys.exit(2)
    by_uri = {s.uri: s for s in configured.values()}
    specs = [configured[n] for n in source_names]
    # An s3:// or URL argument that a configured source names takes its endpoint and keys.
    specs += [by_uri.get(p) or spec_for(p, include, exclude) for p in paths]
    sync = _sync(obj)
    if watch:
        from lockgate.ingest.watch import watch as watch_loop

        stop = threading.Event()
        every = interval or obj.settings.ingest.watch_interval_s
        click.echo(f"watching {len(specs)} source(s) every {every:g}s; Ctrl-C stops", err=True)
        try:
            watch_loop(sync, specs, every, lambda s: _print_summary(s, as_json), stop, prune=True)
        except KeyboardInterrupt:
            stop.set()
        return
    with _cli()._progress(sys.stderr.isatty() and not as_json) as progress:
        summary = sync.run(specs, prune=prune, progress=progress)
    _print_summary(summary, as_json)
    if any(s.get("error") for s in summary.sources) and not summary.seen:
        sys.exit(1)


def register(main: click.Group, docs: click.Group) -> None:
    main.add_command(chunks)
    main.add_command(runs)
    main.add_command(sources)
    docs.add_command(docs_stale)
    docs.add_command(docs_retry)
    docs.add_command(docs_show)


# -- docs stale / retry / show ----------------------------------------------------------
@click.command("stale")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_stale(obj: Ctx, as_json: bool) -> None:
    """Documents past their review-by date or superseded by a newer near-duplicate."""
    from lockgate.store.quality import QualityStore

    rows = QualityStore(obj.services().engine).stale()
    if as_json:
        _cli()._dump(rows)
        return
    for r in rows:
        owner = f" owner {r['owner']}" if r["owner"] else ""
        click.echo(f"#{r['id']:<5} v{r['version']} {'; '.join(r['reasons'])}{owner}  {r['source']}")
    click.echo(f"{len(rows)} stale document(s)")


@click.command("retry")
@click.argument("sources", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_retry(obj: Ctx, sources: tuple[str, ...], as_json: bool) -> None:
    """Try quarantined files again (all, or the given sources) after fixing them."""
    from lockgate.ingest.sync import retry_quarantine

    summary = retry_quarantine(_sync(obj), list(sources) or None)
    _print_summary(summary, as_json)


@click.command("show")
@click.argument("doc")
@click.option("--json", "as_json", is_flag=True)
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
        _cli()._dump(data)
        return
    for key in ("id", "source", "status", "superseded_by", "near_dup_group"):
        click.echo(f"{key:>16}: {info.get(key)}")
    for key in (
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
    ):
        click.echo(f"{key:>16}: {version.get(key)}")
    for m in group:
        mark = "*" if not m["superseded_by"] else " "
        click.echo(
            f"   {mark} #{m['id']} v{m['version']} {m['effective_date'] or '-'} {m['source']}"
        )


def _find(q: Any, doc: str) -> dict[str, Any]:
    found = q.find_document(doc)
    if found is None:
        click.echo(f"lockgate: no single document matches '{doc}'", err=True)
        sys.exit(1)
    return dict(found)


# -- chunks inspect ----------------------------------------------------------------------
@click.group()
def chunks() -> None:
    """Look at how documents were chunked."""


@chunks.command("inspect")
@click.argument("doc")
@click.option("--full", is_flag=True, help="Print whole chunk texts.")
@click.option("--json", "as_json", is_flag=True)
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
        _cli()._dump(
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


# -- runs --------------------------------------------------------------------------------
@click.group()
def runs() -> None:
    """Ingest run reports."""


@runs.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 1000), default=20)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def runs_list(obj: Ctx, limit: int, as_json: bool) -> None:
    """Recent ingest runs with their outcome counts."""
    rows = obj.services().runs.latest(limit)
    if as_json:
        _cli()._dump(rows)
        return
    ts = _cli()._ts
    for r in rows:
        s = r["summary"]
        click.echo(
            f"#{r['id']:<5} {ts(r['started_at'])}  seen {s.get('seen', 0)} new {s.get('new', 0)} "
            f"updated {s.get('updated', 0)} quarantined {s.get('quarantined', 0)} "
            f"chunks {s.get('chunks', 0)}  {s.get('seconds', 0)}s"
            + ("  ALERT" if s.get("alerts") else "")
        )


@runs.command("show")
@click.argument("run_id", required=False, type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def runs_show(obj: Ctx, run_id: int | None, as_json: bool) -> None:
    """One run's report (the latest by default): outcomes by reason, time per stage."""
    rows = obj.services().runs.latest(1000)
    row = next((r for r in rows if run_id is None or r["id"] == run_id), None)
    if row is None:
        click.echo(f"lockgate: no ingest run {run_id}", err=True)
        sys.exit(1)
    if as_json:
        _cli()._dump(row)
        return
    s = row["summary"]
    click.echo(f"run #{row['id']}  started {_cli()._ts(row['started_at'])}  {s.get('seconds', 0)}s")
    for key in (
        "seen",
        "new",
        "updated",
        "unchanged",
        "duplicates",
        "quarantined",
        "retired",
        "chunks",
        "pages",
        "ocr_pages",
    ):
        click.echo(f"{key:>14}: {s.get(key, 0)}")
    for key in ("reasons", "stages_ms", "languages", "strategies", "normalize", "near_duplicates"):
        click.echo(f"{key:>14}: {s.get(key, {})}")
    for src in s.get("sources", []):
        click.echo(f"{'source':>14}: {src}")
    for alert in s.get("alerts", []):
        click.echo(f"{'ALERT':>14}: {alert}")


# -- sources -----------------------------------------------------------------------------
@click.group()
def sources() -> None:
    """Sources and their sync state."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def sources_list(obj: Ctx, as_json: bool) -> None:
    """Each source: last seen / changed / indexed, and its last error."""
    from lockgate.store.sources import SourceStore

    rows = SourceStore(obj.services().engine).list()
    if as_json:
        _cli()._dump(rows)
        return
    ts = _cli()._ts
    for r in rows:
        err = f"  ERROR x{r['consecutive_failures']}: {r['last_error']}" if r["last_error"] else ""
        click.echo(
            f"{r['kind']:<8} {r['name']}  seen {ts(r['last_seen_at'])}  changed "
            f"{ts(r['last_changed_at'])}  indexed {ts(r['last_indexed_at'])}{err}"
        )
    click.echo(f"{len(rows)} source(s)")
