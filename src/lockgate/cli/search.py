"""`lockgate search` (in-process retrieval) and `lockgate ask` (through the HTTP gateway)."""

from __future__ import annotations

import sys
from typing import Any

import click

from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


@click.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Number of results.")
@click.option("--source-prefix", default=None, help="Only documents under this path.")
@click.option("--doc-id", "doc_ids", multiple=True, type=int, help="Only these document ids.")
@click.option("--tenant", default="default", show_default=True, help="Search as this tenant.")
@click.option("--groups", default="", help="Search as a member of these groups (a,b).")
@json_flag
@click.pass_obj
def search(
    obj: Ctx,
    query: str,
    k: int | None,
    source_prefix: str | None,
    doc_ids: tuple[int, ...],
    tenant: str,
    groups: str,
    as_json: bool,
) -> None:
    """Hybrid (BM25 + vector) search over ingested chunks, as one tenant (and groups) sees
    them: documents of other tenants, or of groups not given, are never candidates."""
    from lockgate.retrieval.hybrid import SearchFilters

    if not query.strip():
        click.echo("lockgate: empty query", err=True)
        sys.exit(2)
    member_of = tuple(g.strip() for g in groups.split(",") if g.strip())
    filters = SearchFilters(source_prefix, list(doc_ids) or None, tenant.strip(), member_of)
    result = obj.services().retriever.search(query, k, filters)
    if as_json:
        dump([c.as_dict(full_source=True) for c in result.chunks])
        return
    if not result.chunks:
        click.echo("no results")
    for c in result.chunks:
        where = c.source + (f" p.{c.page}" if c.page else "")
        head = " > ".join(c.heading_path)
        click.echo(f"{c.rank:>2}. [{c.score:.4f}] {where}  {head}  (chunk {c.chunk_id})")
        snippet = " ".join(c.text.split())
        click.echo(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")


@click.command()
@click.argument("question")
@click.option("--url", default=None, help="Gateway base URL (default: from config).")
@click.option("--max-tokens", type=int, default=None)
@click.option(
    "--api-key",
    envvar="LOCKGATE_API_KEY",
    default=None,
    help="Key sent as the bearer credential (default: $LOCKGATE_API_KEY).",
)
@json_flag
@click.pass_obj
def ask(
    obj: Ctx,
    question: str,
    url: str | None,
    max_tokens: int | None,
    api_key: str | None,
    as_json: bool,
) -> None:
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
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        resp = httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=300)
    except httpx.HTTPError as exc:
        click.echo(f"lockgate: cannot reach the gateway at {base}: {exc}", err=True)
        sys.exit(1)
    data = resp.json()
    if resp.status_code != 200:
        click.echo(f"lockgate: {resp.status_code} {data.get('error', {}).get('message')}", err=True)
        sys.exit(1)
    if as_json:
        dump(data)
        return
    meta = data["lockgate"]
    click.echo(data["choices"][0]["message"]["content"])
    click.echo("")
    for c in meta["citations"]:
        click.echo(f"[{c['index']}] {c['source']}" + (f" (page {c['page']})" if c["page"] else ""))
    flags = "refused" if meta["refused"] else ("grounded" if meta["grounded"] else "ungrounded")
    click.echo(f"({flags}; trace {meta['trace_id']})")
