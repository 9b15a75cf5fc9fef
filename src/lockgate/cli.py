"""The `lockgate` command line."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from lockgate.config import ConfigError, Settings, load_settings, masked


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                click.echo(f"lockgate: {exc}", err=True)
                sys.exit(2)
        return self._settings

    def services(self) -> Any:
        from lockgate.services import Services

        return Services(self.settings)


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _ts(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


class _Main(click.Group):
    """A setting found invalid after the file loaded (a policy's scanner params, a model's
    backend, a chunking strategy: things only the plugins know) ends the command the way an
    invalid config file does: the message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"lockgate: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Main)
@click.option("--config", "config_path", envvar="LOCKGATE_CONFIG", help="Path to lockgate.yaml.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Lockgate: grounded answers over your documents behind an OpenAI-compatible gateway."""
    # pypdf narrates every repair it attempts on a damaged file; the quarantine says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    ctx.obj = Ctx(config_path)


# -- config ------------------------------------------------------------------------------
@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_obj
def config_show(obj: Ctx) -> None:
    """Print the effective configuration (secrets masked)."""
    import yaml

    click.echo(yaml.safe_dump(masked(obj.settings), sort_keys=False))


# -- ingest ------------------------------------------------------------------------------
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


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--prune", is_flag=True, help="Retire documents whose files are gone.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--source", "source_names", multiple=True, help="A source named in config.")
@click.option("--include", multiple=True, help="Only paths matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip paths matching this glob (repeatable).")
@click.option("--watch", is_flag=True, help="Keep running; re-sync folders when they change.")
@click.option("--interval", type=float, default=None, help="Seconds between --watch polls.")
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
) -> None:
    """Ingest files, folders, URLs, sitemaps and s3:// prefixes into the knowledge base.

    PATHS may be local paths, http(s) URLs (a *.xml URL is read as a sitemap) or
    s3://bucket/prefix (endpoint and keys from a configured source of the same URI)."""
    from lockgate.cli_quality import run_ingest

    run_ingest(obj, paths, prune, as_json, source_names, include, exclude, watch, interval)


# -- search ------------------------------------------------------------------------------
@main.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Number of results.")
@click.option("--source-prefix", default=None, help="Only documents under this path.")
@click.option("--doc-id", "doc_ids", multiple=True, type=int, help="Only these document ids.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def search(
    obj: Ctx,
    query: str,
    k: int | None,
    source_prefix: str | None,
    doc_ids: tuple[int, ...],
    as_json: bool,
) -> None:
    """Hybrid (BM25 + vector) search over ingested chunks."""
    from lockgate.retrieval.hybrid import SearchFilters

    if not query.strip():
        click.echo("lockgate: empty query", err=True)
        sys.exit(2)
    services = obj.services()
    filters = SearchFilters(source_prefix, list(doc_ids) or None)
    result = services.retriever.search(query, k, filters)
    if as_json:
        _dump([c.as_dict() for c in result.chunks])
        return
    if not result.chunks:
        click.echo("no results")
    for c in result.chunks:
        where = c.source + (f" p.{c.page}" if c.page else "")
        head = " > ".join(c.heading_path)
        click.echo(f"{c.rank:>2}. [{c.score:.4f}] {where}  {head}  (chunk {c.chunk_id})")
        snippet = " ".join(c.text.split())
        click.echo(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")


# -- serve -------------------------------------------------------------------------------
@main.command()
@click.option("--host", default=None, help="Bind address (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8080).")
@click.pass_obj
def serve(obj: Ctx, host: str | None, port: int | None) -> None:
    """Run the OpenAI-compatible gateway."""
    import uvicorn

    from lockgate.gateway.app import create_app

    settings = obj.settings
    try:
        app = create_app(obj.services())
    except (ValueError, KeyError) as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(2)
    uvicorn.run(
        app,
        host=host or settings.server.host,
        port=port if port is not None else settings.server.port,
        log_level="info",
    )


# -- ask ---------------------------------------------------------------------------------
@main.command()
@click.argument("question")
@click.option("--url", default=None, help="Gateway base URL (default: from config).")
@click.option("--max-tokens", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ask(obj: Ctx, question: str, url: str | None, max_tokens: int | None, as_json: bool) -> None:
    """Ask the grounded assistant a question through the HTTP API."""
    import httpx

    base = url or f"http://{obj.settings.server.host}:{obj.settings.server.port}"
    body: dict[str, Any] = {
        "model": "lockgate",
        "messages": [{"role": "user", "content": question}],
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    try:
        resp = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=300)
    except httpx.HTTPError as exc:
        click.echo(f"lockgate: cannot reach the gateway at {base}: {exc}", err=True)
        sys.exit(1)
    data = resp.json()
    if resp.status_code != 200:
        click.echo(f"lockgate: {resp.status_code} {data.get('error', {}).get('message')}", err=True)
        sys.exit(1)
    if as_json:
        _dump(data)
        return
    meta = data["lockgate"]
    click.echo(data["choices"][0]["message"]["content"])
    click.echo("")
    for c in meta["citations"]:
        click.echo(f"[{c['index']}] {c['source']}" + (f" (page {c['page']})" if c["page"] else ""))
    flags = "refused" if meta["refused"] else ("grounded" if meta["grounded"] else "ungrounded")
    click.echo(f"({flags}; trace {meta['trace_id']})")


# -- guardrails --------------------------------------------------------------------------
@main.command()
@click.argument("text")
@click.option("--direction", type=click.Choice(["in", "out", "context"]), default="in")
@click.option("--app", default=None, help="Use this app's policy instead of the default.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def guard(obj: Ctx, text: str, direction: str, app: str | None, as_json: bool) -> None:
    """Run the configured guardrail policy on TEXT ('-' reads standard input)."""
    from lockgate.gateway.routes.guardrails import GuardCheckIn, check

    if text == "-":
        text = sys.stdin.read()
    if app and app not in obj.settings.guardrails.apps:
        click.echo(f"lockgate: no guardrail policy for app '{app}'", err=True)
        sys.exit(2)
    services = obj.services()
    services.guard.validate()
    # Load scanner models before timing starts: a cold load would overrun the scan budget.
    services.guard.warm()
    result = check(services, GuardCheckIn(text=text, direction=direction, app=app))
    if as_json:
        _dump(result)
        return
    click.echo(f"action: {result['action']}")
    for f in result["findings"]:  # type: ignore[union-attr]
        span = text[f["start"] : f["end"]]
        where = f"[{f['start']}:{f['end']}]"
        click.echo(f"  {f['scanner']:<10} {f['type']:<12} {f['score']:.2f}  {where} {span[:60]!r}")
    if result["text"] != text:
        click.echo(f"redacted: {result['text']}")


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Include closed escalations.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def escalations(obj: Ctx, show_all: bool, as_json: bool) -> None:
    """Requests a guardrail escalated to human review."""
    rows = obj.services().escalations.list(None if show_all else "open")
    if as_json:
        _dump(rows)
        return
    for r in rows:
        click.echo(
            f"#{r['id']:<5} {_ts(r['created_at'])} {r['direction']:<7} "
            f"{','.join(r['scanners']):<20} trace {r['trace_id']}  {r['excerpt'][:60]!r}"
        )
    click.echo(f"{len(rows)} escalation(s)")


# -- docs --------------------------------------------------------------------------------
@main.group()
def docs() -> None:
    """Look at the knowledge base."""


@docs.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include retired documents.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_list(obj: Ctx, show_all: bool, as_json: bool) -> None:
    """Documents with their current version and status."""
    rows = obj.services().documents.list_documents()
    if not show_all:
        rows = [r for r in rows if r["status"] != "retired"]
    if as_json:
        _dump(rows)
        return
    for r in rows:
        extra = f" of #{r['duplicate_of']}" if r["duplicate_of"] else ""
        if r.get("superseded_by"):  # an older near-duplicate version (issue 5)
            extra += f" superseded by #{r['superseded_by']}"
        if r.get("near_dup_group"):
            extra += f" group {r['near_dup_group']}"
        click.echo(
            f"#{r['id']:<5} {r['status']:<9}{extra} v{r['version'] or '-'} "
            f"{r['format'] or '-':<8} {r['chunk_count'] or 0:>4} chunks  {r['source']}"
        )
    click.echo(f"{len(rows)} document(s)")


@docs.command("quarantine")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_quarantine(obj: Ctx, as_json: bool) -> None:
    """Files that could not be ingested, with the reason. They are retried on every ingest."""
    rows = obj.services().documents.list_quarantine()
    if as_json:
        _dump(rows)
        return
    for r in rows:
        detail = f" - {r['detail']}" if r["detail"] else ""
        click.echo(f"{r['reason']:<12} x{r['attempts']:<3} {r['source']}{detail}")
    click.echo(f"{len(rows)} quarantined file(s)")


# -- traces ------------------------------------------------------------------------------
@main.group()
def traces() -> None:
    """Inspect request traces."""


@traces.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 10000), default=20)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def traces_list(obj: Ctx, limit: int, as_json: bool) -> None:
    """The most recent requests."""
    rows = obj.services().traces.list(limit)
    if as_json:
        _dump(rows)
        return
    for r in rows:
        flags = "refused" if r["refused"] else ("grounded" if r["grounded"] else "")
        click.echo(
            f"{r['id']}  {_ts(r['created_at'])}  {r['endpoint']:<22} {r['model'] or '-':<14} "
            f"{r['status']:<9} {r['http_status'] or '-'} {r['latency_ms'] or 0:>8.1f} ms  {flags}"
        )


@traces.command("show")
@click.argument("trace_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def traces_show(obj: Ctx, trace_id: str, as_json: bool) -> None:
    """Everything recorded about one request."""
    row = obj.services().traces.get(trace_id)
    if row is None:
        click.echo(f"lockgate: no trace {trace_id}", err=True)
        sys.exit(1)
    if as_json:
        _dump(row)
        return
    for key in ("id", "endpoint", "model", "backend", "status", "http_status", "error"):
        click.echo(f"{key:>15}: {row[key]}")
    click.echo(f"{'created':>15}: {_ts(row['created_at'])}")
    click.echo(f"{'prompt':>15}: {row['prompt_template']} v{row['prompt_version']}")
    click.echo(
        f"{'tokens':>15}: in {row['tokens_in']} / out {row['tokens_out']}  cost {row['cost']}"
    )
    click.echo(f"{'latency':>15}: {row['latency_ms']} ms  (first token {row['ttft_ms']} ms)")
    click.echo(f"{'refused':>15}: {row['refused']}   grounded: {row['grounded']}")
    for item in row["retrieved"] or []:
        mark = "*" if item.get("in_prompt") else " "
        click.echo(f"   {mark} chunk {item['chunk_id']:<6} {item['score']:.4f} {item['source']}")
    for stage in row["stages"] or []:
        click.echo(f"     {stage['stage']:<22} {stage['ms']:8.2f} ms {stage.get('note', '')}")
    click.echo("--- final prompt ---")
    click.echo(row["prompt"] or "")
    click.echo("--- raw output ---")
    click.echo(row["raw_output"] or "")
    click.echo("--- final output ---")
    click.echo(row["output"] or "")


# Data quality, sources, freshness and lineage commands (issue 5) live in their own module.
from lockgate import cli_quality  # noqa: E402

cli_quality.register(main, docs)


# -- routing and cache (issue 4b) ----------------------------------------------------------
@main.group()
def routing() -> None:
    """The small/large router."""


@routing.command("report")
@click.option("--hours", type=float, default=None, help="Only the last N hours (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def routing_report_cmd(obj: Ctx, hours: float | None, as_json: bool) -> None:
    """Share of requests per model and cost saved against always using the large model."""
    from lockgate.routing.report import routing_report

    services = obj.services()
    since = time.time() - hours * 3600 if hours else 0.0
    report = routing_report(services.engine, services.settings, since)
    if as_json:
        _dump(report)
        return
    click.echo(f"routed requests: {report['routed_requests']}")
    for model, share in report["share"].items():
        click.echo(f"  {model:<24} {share * 100:6.1f}%  ({report['requests'][model]})")
    for reason, n in report["large_reasons"].items():
        click.echo(f"  large because {reason:<22} {n}")
    click.echo(
        f"cost {report['cost']:.6f}  always-large {report['always_large_cost']:.6f}  "
        f"saved {report['saved']:.6f} ({report['saved_pct']:.1f}%)"
    )
    click.echo(f"({report['note']})")


@main.group()
def cache() -> None:
    """The response cache."""


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cache_stats(obj: Ctx, as_json: bool) -> None:
    """Entries in the cache and how often they were reused."""
    cache = obj.services().response_cache
    cache.flush_hits()
    stats = cache.store.stats(time.time())
    if as_json:
        _dump(stats)
        return
    click.echo(f"entries {stats['entries']}  live {stats['live']}  hits {stats['hits']}")


@cache.command("clear")
@click.option("--tenant", default=None, help="Only this tenant's entries.")
@click.pass_obj
def cache_clear(obj: Ctx, tenant: str | None) -> None:
    """Remove cached answers (all, or one tenant's)."""
    removed = obj.services().response_cache.clear(tenant)
    click.echo(f"removed {removed} cached answer(s)")


# Cost report and batch commands (issue 4c) live in their own module.
from lockgate import cli_budget  # noqa: E402

cli_budget.register(main)


def _plugin_commands() -> None:
    from lockgate.plugins import plugin_manager

    try:
        plugin_manager().hook.register_commands(cli=main)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the CLI down
        click.echo(f"lockgate: warning: plugin commands not loaded: {exc}", err=True)


_plugin_commands()


if __name__ == "__main__":
    main()
