"""Callers never see a source's credentials or the host's disk layout: a page ingested from a
loopback site through a URL with userinfo and a `?token=`, and a folder of documents, are
served by /v1/search and in grounded citations as the URL without credentials or query and as
paths relative to the ingested folder. The stored document key holds no token either; the
operator's CLI search still shows the full path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockgate.config import FetchConfig, ModelSpec, ResilienceConfig
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.sync import SourceSync, spec_for
from lockgate.store.quality import QualityStore
from lockgate.store.sources import SourceStore
from tests.conftest import make_services, make_settings
from tests.support.server import serve

USER_SECRET = "USERINFOSECRET"
TOKEN = "TOKENSECRET"
PARKING = "Visitors park on level two of the east garage, free for three hours."
REFUNDS = "Annual plans can be refunded in full within thirty days of purchase."


def _site() -> Starlette:
    def page(request: Request) -> Response:
        assert request.query_params.get("token") == TOKEN  # the fetch used the full URL
        return Response(f"<html><body><h1>Parking</h1><p>{PARKING}</p></body></html>",
                        media_type="text/html")

    return Starlette(routes=[Route("/kb/parking.html", page)])


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("source-privacy")
    folder = tmp / "corpus" / "kb"
    (folder / "billing").mkdir(parents=True)
    (folder / "billing" / "refunds.md").write_text(f"# Refunds\n\n{REFUNDS}\n")
    settings = make_settings(tmp / "home")
    # Unreachable: the grounded answer is the extractive stand-in, with citations.
    settings.models["gone"] = ModelSpec(
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        connect_timeout_s=0.5,
        resilience=ResilienceConfig(retries=0),
    )
    settings.grounded.model = "gone"
    settings.ingest.fetch = FetchConfig(allow_networks=["127.0.0.0/8"])
    services = make_services(settings, embedder)
    ingestor = Ingestor(services.documents, services.runs, embedder, settings.ingest)
    sync = SourceSync(ingestor, SourceStore(services.engine), QualityStore(services.engine))
    with serve(_site()) as site:
        host = site.removeprefix("http://")
        url = f"http://reader:{USER_SECRET}@{host}/kb/parking.html?token={TOKEN}"
        summary = sync.run([spec_for(str(folder)), spec_for(url)])
        assert summary.new == 2, summary
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield {"base": base, "services": services, "folder": folder, "site": site, "home": tmp}


def _no_secrets(text: str, world: dict[str, Any]) -> None:
    for secret in (USER_SECRET, TOKEN, str(world["folder"]), str(world["home"])):
        assert secret not in text, f"{secret!r} in {text[:500]}"


def test_stored_url_key_has_no_credentials(world) -> None:
    sources = {d["source"] for d in world["services"].documents.list_documents()}
    assert f"{world['site']}/kb/parking.html" in sources
    assert not any(USER_SECRET in s or TOKEN in s for s in sources)


def test_search_results_show_clean_urls_and_relative_paths(world) -> None:
    base = world["base"]
    for query, shown in (
        ("where do visitors park", f"{world['site']}/kb/parking.html"),
        ("refund annual plan", "billing/refunds.md"),
    ):
        resp = httpx.post(f"{base}/v1/search", json={"query": query, "k": 2}, timeout=30)
        assert resp.status_code == 200, resp.text
        _no_secrets(resp.text, world)
        top = resp.json()["results"][0]
        assert top["source"] == shown and top["lineage"]["source"] == shown


@pytest.mark.parametrize("stream", [False, True])
def test_citations_show_clean_urls_and_relative_paths(world, stream: bool) -> None:
    question = "How long is the refund window for annual plans?"
    messages = [{"role": "user", "content": question}]
    body = {"model": "lockgate", "stream": stream, "messages": messages}
    resp = httpx.post(f"{world['base']}/v1/chat/completions", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    _no_secrets(resp.text, world)
    if stream:
        chunks = [json.loads(ln[6:]) for ln in resp.text.split("\n\n") if ln.startswith("data: {")]
        lockgate = next(c["lockgate"] for c in chunks if "lockgate" in c)
    else:
        lockgate = resp.json()["lockgate"]
    assert lockgate["citations"][0]["source"] == "billing/refunds.md"


def test_the_operator_cli_still_sees_full_paths(world, monkeypatch) -> None:
    from lockgate.cli import main

    services = world["services"]
    monkeypatch.setenv("LOCKGATE_HOME", str(services.settings.home))
    import lockgate.cli.context as context

    monkeypatch.setattr(context.Ctx, "services", lambda self: services)
    out = CliRunner().invoke(main, ["search", "refund annual plan", "--json"])
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)
    assert Path(hits[0]["source"]) == world["folder"] / "billing" / "refunds.md"
