"""Sources end to end with the real MiniLM model and a real SQLite store: folders with
globs and sidecar metadata, HTTP URLs and sitemaps served on loopback (with a flaky page to
prove retry with backoff), S3 against moto's S3-compatible server on loopback, quarantine
retry after a fix, the watch loop, and the per-run report with the quarantine alert hook."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.cli import main
from lockgate.config import AlertsConfig, FetchConfig, RetryConfig, SourceSpec
from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.sync import SourceSync, retry_quarantine, spec_for
from lockgate.ingest.watch import watch
from lockgate.store.quality import QualityStore
from lockgate.store.sources import SourceStore
from tests.conftest import make_services, make_settings
from tests.support.server import free_port, serve

FAST_RETRY = RetryConfig(attempts=3, backoff_s=0.01, max_backoff_s=0.02)
# The test sites run on loopback, which the default fetch policy refuses.
LOOPBACK = FetchConfig(allow_networks=["127.0.0.0/8"])


def make_sync(tmp_path: Path, embedder, **ingest: object) -> tuple[SourceSync, object]:
    settings = make_settings(tmp_path / "home")
    settings.ingest.retry = FAST_RETRY
    for key, value in ingest.items():
        setattr(settings.ingest, key, value)
    services = make_services(settings, embedder)
    ingestor = Ingestor(services.documents, services.runs, embedder, settings.ingest)
    sync = SourceSync(ingestor, SourceStore(services.engine), QualityStore(services.engine))
    return sync, services


def test_folder_globs_sidecar_and_quarantine_retry(tmp_path: Path, embedder) -> None:
    root = tmp_path / "docs"
    (root / "drafts").mkdir(parents=True)
    (root / "policy.md").write_text("# Parking\n\nVisitors park on level 2 of the garage.\n")
    (root / "policy.md.meta.yaml").write_text("owner: Facilities\nreview_by: 1 January 2020\n")
    (root / "drafts" / "wip.md").write_text("# Draft\n\nNot ready for anyone to read yet.\n")
    (root / "notes.txt").write_text("Canteen opens at 11:30 and closes at 14:00 on weekdays.\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 cut in the middle")
    sync, services = make_sync(tmp_path, embedder)
    spec = spec_for(str(root), include=["*.md", "*.pdf"], exclude=["drafts/*"])
    summary = sync.run([spec])
    assert (summary.new, summary.quarantined, summary.seen) == (1, 1, 2)
    assert summary.reasons == {"corrupted": 1}
    docs = services.documents.list_documents()
    assert [Path(d["source"]).name for d in docs] == ["policy.md"]
    assert docs[0]["owner"] == "Facilities" and docs[0]["review_by"] == "2020-01-01"
    stale = QualityStore(services.engine).stale()
    assert stale[0]["reasons"] == ["review overdue since 2020-01-01"]
    # The source keeps its own sync state.
    (src,) = SourceStore(services.engine).list()
    assert src["kind"] == "folder" and src["last_indexed_at"] and src["last_error"] is None
    # Unchanged rerun, then a sidecar-only edit re-indexes the document.
    assert sync.run([spec]).unchanged == 1
    (root / "policy.md.meta.yaml").write_text("owner: Facilities\nreview_by: 2999-01-01\n")
    assert sync.run([spec]).updated == 1
    assert QualityStore(services.engine).stale() == []
    # Fix the broken file, then retry the quarantine: it is indexed through its source.
    (root / "broken.pdf").write_text("not a pdf at all, now it is plain text about lockers\n")
    (root / "broken.pdf").rename(root / "broken.txt")
    (root / "broken.pdf").write_bytes((root / "broken.txt").read_bytes())
    retried = retry_quarantine(sync)
    assert retried.quarantined == 0 and retried.new == 1
    assert services.documents.list_quarantine() == []


def _site(hits: dict[str, int]) -> Starlette:
    def page(request: Request) -> Response:
        name = request.path_params["name"]
        hits[name] = hits.get(name, 0) + 1
        if name == "flaky.html" and hits[name] <= 2:
            return Response("busy", status_code=503)
        if name == "gone.html":
            return Response("no", status_code=404)
        body = (
            f"<html><body><h1>{name}</h1><p>The {name} page says the office dog is "
            f"called Biscuit and visits on Fridays.</p></body></html>"
        )
        return Response(
            body, media_type="text/html", headers={"last-modified": "Wed, 01 May 2024 10:00:00 GMT"}
        )

    def sitemap(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        urls = "".join(
            f"<url><loc>{base}/site/{n}</loc><lastmod>2024-05-01</lastmod></url>"
            for n in ("a.html", "flaky.html", "gone.html")
        )
        xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        return Response(xml, media_type="application/xml")

    async def hook(request: Request) -> Response:
        hits.setdefault("alerts", 0)
        hits["alerts"] += 1
        hits["alert_body"] = await request.json()  # type: ignore[assignment]
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/site/sitemap.xml", sitemap),
            Route("/site/{name}", page),
            Route("/hook", hook, methods=["POST"]),
        ]
    )


def test_sitemap_retry_backoff_fetch_failure_and_alert(tmp_path: Path, embedder) -> None:
    hits: dict[str, int] = {}
    with serve(_site(hits)) as base:
        alerts = AlertsConfig(quarantine_growth=1, webhook_url=f"{base}/hook")
        sync, services = make_sync(tmp_path, embedder, alerts=alerts, fetch=LOOPBACK)
        spec = spec_for(f"{base}/site/sitemap.xml")
        assert spec.kind == "sitemap"
        summary = sync.run([spec])
        assert hits["flaky.html"] == 3  # two 503s retried with backoff, then indexed
        assert hits["gone.html"] == 1  # a 404 is not retried
        assert (summary.new, summary.quarantined) == (2, 1)
        (q,) = services.documents.list_quarantine()
        assert q["reason"] == "fetch_failed" and "HTTP 404" in q["detail"]
        assert q["source"].endswith("/site/gone.html")
        # The report is stored and carries the alert, which the hook received.
        (run,) = services.runs.latest(1)
        report = run["summary"]
        assert report["reasons"] == {"fetch_failed": 1}
        assert {"list", "fetch", "parse", "embed", "commit"} <= set(report["stages_ms"])
        assert report["alerts"][0]["kind"] == "quarantine_growth"
        assert report["alerts"][0]["delivered"] is True
        assert hits["alerts"] == 1 and hits["alert_body"]["growth"] == 1  # type: ignore[index]
        docs = {d["source"].rsplit("/", 1)[-1]: d for d in services.documents.list_documents()}
        assert docs["a.html"]["effective_date"] == "2024-05-01"  # Last-Modified
        # A second run with nothing new raises no alert.
        assert sync.run([spec]).alerts == []
    # The host is gone: the source failure is recorded, its documents are kept.
    failed = sync.run([spec], prune=True)
    assert failed.sources[0]["error"] and failed.retired == 0
    (src,) = SourceStore(services.engine).list()
    assert src["consecutive_failures"] == 1 and src["last_error"]
    assert services.documents.counts()["documents"] == 2


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_s3_compatible_source(tmp_path: Path, embedder, s3_endpoint, monkeypatch) -> None:
    import boto3

    monkeypatch.setenv("T_S3_KEY", "testing")
    monkeypatch.setenv("T_S3_SECRET", "testing")
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="lockgate-kb")
    s3.put_object(
        Bucket="lockgate-kb",
        Key="hr/leave.md",
        Body=b"# Leave\n\nFull-time staff receive 27 days of paid leave a year.\n",
    )
    s3.put_object(Bucket="lockgate-kb", Key="hr/leave.md.meta.yaml", Body=b"owner: People Team\n")
    s3.put_object(Bucket="lockgate-kb", Key="hr/skip.log", Body=b"debug noise")
    s3.put_object(Bucket="lockgate-kb", Key="other/x.md", Body=b"# Other\n\nOutside the prefix.\n")
    spec = SourceSpec(
        name="hr-bucket",
        kind="s3",
        uri="s3://lockgate-kb/hr/",
        endpoint_url=s3_endpoint,
        access_key_env="T_S3_KEY",
        secret_key_env="T_S3_SECRET",
        exclude=["*.log"],
    )
    sync, services = make_sync(tmp_path, embedder)
    summary = sync.run([spec])
    assert (summary.seen, summary.new) == (1, 1)
    (doc,) = services.documents.list_documents()
    assert doc["source"] == "s3://lockgate-kb/hr/leave.md" and doc["owner"] == "People Team"
    hit = services.retriever.search("how many days of paid leave", k=1).chunks[0]
    assert hit.source == "s3://lockgate-kb/hr/leave.md" and "27 days" in hit.text
    # Unchanged objects are skipped by content hash; deleted ones are retired by --prune.
    assert sync.run([spec]).unchanged == 1
    s3.delete_object(Bucket="lockgate-kb", Key="hr/leave.md")
    assert sync.run([spec], prune=True).retired == 1
    assert SourceStore(services.engine).by_name("hr-bucket")["last_seen_at"]


def test_watch_picks_up_new_files(tmp_path: Path, embedder) -> None:
    root = tmp_path / "watched"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nThe first file is about apples and orchards.\n")
    sync, services = make_sync(tmp_path, embedder)
    runs: list[object] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch, args=(sync, [spec_for(str(root))], 0.1, runs.append, stop), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not runs and time.monotonic() < deadline:
        time.sleep(0.05)
    (root / "b.md").write_text("# B\n\nThe second file is about bananas and boats.\n")
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (root / "a.md").unlink()
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert [r.new for r in runs[:2]] == [1, 1] and runs[2].retired == 1  # type: ignore[attr-defined]
    assert [
        Path(d["source"]).name
        for d in services.documents.list_documents()
        if d["status"] == "active"
    ] == ["b.md"]


def test_cli_ingest_globs_runs_sources_and_retry(tmp_path: Path, embedder, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    root = tmp_path / "kb"
    root.mkdir()
    (root / "keep.md").write_text("# Keep\n\nThe library lends umbrellas on rainy days.\n")
    (root / "skip.md").write_text("# Skip\n\nShould not be ingested at all.\n")
    (root / "bad.pdf").write_bytes(b"%PDF-1.4 truncated")
    import lockgate.cli.ingest as cq

    real = cq.source_sync

    def patched(obj):
        sync = real(obj)
        sync.ingestor.embedder = embedder  # reuse the session's model
        return sync

    monkeypatch.setattr(cq, "source_sync", patched)
    runner = CliRunner()
    out = runner.invoke(main, ["ingest", str(root), "--exclude", "skip.md", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["new"], data["quarantined"]) == (1, 1)
    out = runner.invoke(main, ["runs", "show", "--json"])
    assert json.loads(out.output)["summary"]["reasons"] == {"corrupted": 1}
    assert "seen 2" in runner.invoke(main, ["runs", "list"]).output
    assert "folder:" in runner.invoke(main, ["sources", "list"]).output
    (root / "bad.pdf").unlink()
    (root / "bad.pdf").write_text("Lockers are on the second floor.")  # fixed (as text)
    out = runner.invoke(main, ["docs", "retry"])
    assert out.exit_code == 0 and "quarantined 0" in out.output, out.output
    out = runner.invoke(main, ["chunks", "inspect", "keep.md"])
    assert out.exit_code == 0 and "chunker structure/1" in out.output and "umbrellas" in out.output
    assert runner.invoke(main, ["chunks", "inspect", "nothing.md"]).exit_code == 1
    assert runner.invoke(main, ["ingest", "--source", "nope"]).exit_code == 2
