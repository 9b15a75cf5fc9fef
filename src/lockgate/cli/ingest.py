"""`lockgate ingest`, `docs retry` (quarantined files again), `runs` (ingest run reports) and
`sources` (their sync state)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lockgate.auth.scopes import DOCS_READ, DOCS_WRITE
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag, ts

if TYPE_CHECKING:
    from lockgate.config import SourceSpec
    from lockgate.ingest.pipeline import IngestSummary
    from lockgate.ingest.queue import RedisStreamQueue
    from lockgate.ingest.queued import QueuedRuns
    from lockgate.ingest.sync import SourceSync


def source_sync(obj: Ctx) -> SourceSync:
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


def open_queue(obj: Ctx) -> RedisStreamQueue:
    """The ingest queue, or the command ends with a message saying what to set."""
    from lockgate.ingest.queue import open_queue as open_stream_queue

    settings = obj.settings
    if settings.redis.url is None:
        click.echo(
            "lockgate: the ingest queue is a Redis stream, and redis.url is not set "
            "(set it in lockgate.yaml or LOCKGATE_REDIS__URL, e.g. redis://127.0.0.1:6379/0)",
            err=True,
        )
        sys.exit(2)
    return open_stream_queue(settings.redis, settings.ingest.queue)


def queued_runs(obj: Ctx, sync: SourceSync | None = None) -> QueuedRuns:
    from lockgate.ingest.queued import QueuedRuns
    from lockgate.store.ingest_jobs import IngestJobStore

    return QueuedRuns(sync or source_sync(obj), IngestJobStore(obj.services().engine))


def _enqueue(
    obj: Ctx, sync: SourceSync, specs: list[SourceSpec], prune: bool, as_json: bool
) -> None:
    from lockgate.ingest.queued import NotQueueable
    from lockgate.sharedstate.client import REDIS_ERRORS

    queue = open_queue(obj)
    try:
        done = queued_runs(obj, sync).enqueue(specs, queue, prune)
    except NotQueueable as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(2)
    except REDIS_ERRORS as exc:
        click.echo(f"lockgate: the ingest queue (Redis) is unavailable: {exc}", err=True)
        sys.exit(1)
    finally:
        queue.close()
    if as_json:
        dump({"run_id": done.run_id, "jobs": done.jobs, "retired": done.retired})
        return
    click.echo(
        f"run #{done.run_id}: {done.jobs} job(s) queued, {done.retired} retired; "
        f"`lockgate runs show {done.run_id}` follows it"
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(path: str, i: int, n: int) -> None:
            bar.update(task, total=n, completed=i - 1, description=Path(path).name[:40])

        yield update


def _print_summary(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        dump(summary.as_dict())
        return
    click.echo(
        f"seen {summary.seen}  new {summary.new}  updated {summary.updated}  "
        f"unchanged {summary.unchanged}  duplicates {summary.duplicates}  "
        f"quarantined {summary.quarantined}  retired {summary.retired}  "
        f"chunks {summary.chunks}  in {summary.seconds:.1f}s"
    )
    for q in summary.quarantined_files:
        click.echo(f"  quarantined {q.source}: {q.reason}{' - ' + q.detail if q.detail else ''}")
    if summary.ocr_pages or summary.ocr_low_confidence:
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


@requires(DOCS_WRITE)
@click.command()
@click.argument("paths", nargs=-1)
@click.option("--prune", is_flag=True, help="Retire documents whose files are gone.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--source", "source_names", multiple=True, help="A source named in config.")
@click.option("--include", multiple=True, help="Only paths matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip paths matching this glob (repeatable).")
@click.option("--watch", is_flag=True, help="Keep running; re-sync folders when they change.")
@click.option("--interval", type=float, default=None, help="Seconds between --watch polls.")
@click.option(
    "--queue",
    "queued",
    is_flag=True,
    help="Put one job per file on the ingest queue for `lockgate worker ingest`.",
)
@click.option(
    "--tenant", default="default", show_default=True, help="Tenant that owns these documents."
)
@click.option(
    "--groups", default="", help="Only members of these groups (a,b) see them; none: the tenant."
)
@click.pass_obj
def ingest(
    obj: Ctx,
    paths: tuple[str, ...],
    prune: bool,
    as_json: bool,
    source_names: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    watch: bool,
    interval: float | None,
    queued: bool,
    tenant: str,
    groups: str,
) -> None:
    """Ingest files, folders, URLs, sitemaps and s3:// prefixes into the knowledge base.

    PATHS may be local paths, http(s) URLs (a *.xml URL is read as a sitemap) or
    s3://bucket/prefix (endpoint and keys from a configured source of the same URI)."""
    from lockgate.ingest.sync import spec_for
    from lockgate.store.access import Access

    if not tenant.strip():
        click.echo("lockgate: --tenant must not be empty", err=True)
        sys.exit(2)
    access = Access.of(tenant.strip(), (g.strip() for g in groups.split(",")))
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
    if queued and watch:
        click.echo("lockgate: --queue and --watch do not go together", err=True)
        sys.exit(2)
    if queued:
        open_queue(obj).close()  # before any listing: no Redis, no run
    sync = source_sync(obj)
    sync.ingestor.access = access
    if queued:
        _enqueue(obj, sync, specs, prune, as_json)
        return
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
    with _progress(sys.stderr.isatty() and not as_json) as progress:
        summary = sync.run(specs, prune=prune, progress=progress)
    _print_summary(summary, as_json)
    if any(s.get("error") for s in summary.sources) and not summary.seen:
        sys.exit(1)
    _exit_if_embedder_failed(summary)


def _exit_if_embedder_failed(summary: IngestSummary) -> None:
    """Exit 1 when the embedder failed documents: unlike a bad file, nothing was wrong
    with them, and a script running the ingest should know it did not finish."""
    failed = summary.reasons.get("embedding_failed", 0)
    if failed:
        click.echo(
            f"lockgate: the embedder failed {failed} document(s): quarantined, earlier "
            "versions still indexed; run `lockgate docs retry` once it is back",
            err=True,
        )
        sys.exit(1)


@requires(DOCS_WRITE)
@click.command("retry")
@click.argument("sources", nargs=-1)
@json_flag
@click.pass_obj
def docs_retry(obj: Ctx, sources: tuple[str, ...], as_json: bool) -> None:
    """Try quarantined files again (all, or the given sources) after fixing them."""
    from lockgate.ingest.sync import retry_quarantine

    summary = retry_quarantine(source_sync(obj), list(sources) or None)
    _print_summary(summary, as_json)
    _exit_if_embedder_failed(summary)


@click.group()
def runs() -> None:
    """Ingest run reports."""


def _run(r: dict[str, Any]) -> str:
    s = r["summary"]
    return (
        f"#{r['id']:<5} {ts(r['started_at'])}  seen {s.get('seen', 0)} new {s.get('new', 0)} "
        f"updated {s.get('updated', 0)} quarantined {s.get('quarantined', 0)} "
        f"chunks {s.get('chunks', 0)}  {s.get('seconds', 0)}s"
        + ("  ALERT" if s.get("alerts") else "")
        + (
            "  (queued" + ("" if r.get("finished_at") else ", in progress") + ")"
            if r.get("kind") == "queued"
            else ""
        )
    )


@requires(DOCS_READ)
@runs.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 1000), default=20)
@json_flag
@click.pass_obj
def runs_list(obj: Ctx, limit: int, as_json: bool) -> None:
    """Recent ingest runs with their outcome counts."""
    echo_rows(obj.services().runs.latest(limit), as_json, _run)


_RUN_COUNTS = (
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
)
_RUN_DETAILS = ("reasons", "stages_ms", "languages", "strategies", "normalize", "near_duplicates")


@requires(DOCS_READ)
@runs.command("show")
@click.argument("run_id", required=False, type=int)
@json_flag
@click.pass_obj
def runs_show(obj: Ctx, run_id: int | None, as_json: bool) -> None:
    """One run's report (the latest by default): outcomes by reason, time per stage."""
    store = obj.services().runs
    row = store.get(run_id) if run_id is not None else next(iter(store.latest(1)), None)
    if row is None:
        click.echo(f"lockgate: no ingest run {run_id}", err=True)
        sys.exit(1)
    if row.get("kind") == "queued":
        _show_queued(obj, row, as_json)
        return
    if as_json:
        dump(row)
        return
    s = row["summary"]
    click.echo(f"run #{row['id']}  started {ts(row['started_at'])}  {s.get('seconds', 0)}s")
    for key in _RUN_COUNTS:
        click.echo(f"{key:>14}: {s.get(key, 0)}")
    for key in _RUN_DETAILS:
        click.echo(f"{key:>14}: {s.get(key, {})}")
    for src in s.get("sources", []):
        click.echo(f"{'source':>14}: {src}")
    for alert in s.get("alerts", []):
        click.echo(f"{'ALERT':>14}: {alert}")


def _show_queued(obj: Ctx, row: dict[str, Any], as_json: bool) -> None:
    """A queued run, finished or not: counts read from its job rows, per source."""
    from lockgate.store.ingest_jobs import IngestJobStore

    jobs = IngestJobStore(obj.services().engine)
    progress = jobs.progress(row["id"])
    problems = [j for state in ("failed", "quarantined") for j in jobs.jobs(row["id"], state, 20)]
    if as_json:
        dump({**row, "progress": progress, "problems": problems})
        return
    status = f"finished {ts(row['finished_at'])}" if row["finished_at"] else "in progress"
    click.echo(f"run #{row['id']} (queued)  started {ts(row['started_at'])}  {status}")
    for key in ("jobs", "queued", "running", "done", "quarantined", "failed", "chunks"):
        click.echo(f"{key:>14}: {progress[key]}")
    click.echo(f"{'outcomes':>14}: {progress['outcomes']}")
    click.echo(f"{'redeliveries':>14}: {progress['redeliveries']}")
    for src in progress["sources"]:
        click.echo(f"{'source':>14}: {src['name']}  {src['states']}  chunks {src['chunks']}")
    for j in problems:
        click.echo(f"{j['state']:>14}: {j['source']}: {j['error']}")


@requires(DOCS_READ)
@runs.command("jobs")
@click.argument("run_id", type=int)
@click.option("--state", type=click.Choice(["queued", "running", "done", "quarantined", "failed"]))
@click.option("-n", "limit", type=click.IntRange(1, 100000), default=100)
@json_flag
@click.pass_obj
def runs_jobs(obj: Ctx, run_id: int, state: str | None, limit: int, as_json: bool) -> None:
    """The files of a queued run: state, outcome, attempts, the worker, the error."""
    from lockgate.store.ingest_jobs import IngestJobStore

    rows = IngestJobStore(obj.services().engine).jobs(run_id, state, limit)
    echo_rows(
        rows,
        as_json,
        lambda j: (
            f"{j['state']:<11} {j['outcome'] or '-':<10} x{j['attempts']}  {j['source']}"
            + (f"  ({j['error']})" if j["error"] else "")
        ),
        "job(s)",
    )


@requires(DOCS_WRITE)
@runs.command("requeue")
@click.argument("run_id", type=int)
@click.pass_obj
def runs_requeue(obj: Ctx, run_id: int) -> None:
    """Put a queued run's unfinished jobs on the queue again (after Redis lost them, or
    the enqueuer stopped half-way). Finished jobs are not touched; a job that is still on
    the queue is worked on once."""
    if obj.services().runs.get(run_id) is None:
        click.echo(f"lockgate: no ingest run {run_id}", err=True)
        sys.exit(1)
    queue = open_queue(obj)
    try:
        n = queued_runs(obj).requeue(run_id, queue)
    finally:
        queue.close()
    click.echo(f"run #{run_id}: {n} job(s) queued again")


@click.group()
def sources() -> None:
    """Sources and their sync state."""


def _source(r: dict[str, Any]) -> str:
    err = f"  ERROR x{r['consecutive_failures']}: {r['last_error']}" if r["last_error"] else ""
    return (
        f"{r['kind']:<8} {r['name']}  seen {ts(r['last_seen_at'])}  changed "
        f"{ts(r['last_changed_at'])}  indexed {ts(r['last_indexed_at'])}{err}"
    )


@requires(DOCS_READ)
@sources.command("list")
@json_flag
@click.pass_obj
def sources_list(obj: Ctx, as_json: bool) -> None:
    """Each source: last seen / changed / indexed, and its last error."""
    from lockgate.store.sources import SourceStore

    rows = SourceStore(obj.services().engine).list()
    echo_rows(rows, as_json, _source, "source(s)")
