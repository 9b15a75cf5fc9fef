"""Queued ingest on the real Redis (127.0.0.1:6379, a key prefix per test) and the test's
store (SQLite, or PostgreSQL under LOCKGATE_TEST_STORE=postgresql), with an embedder over
HTTP that can hold its requests, so a test knows a worker is in the middle of a document.

The main test runs two real `lockgate worker ingest` processes and `kill -9`s one of them,
again and again, each time while both are waiting on the embedder mid-document; then checks
that every file is indexed once: one version per document, each chunk once (rows and
full-text entries), and run counts that add up. The others drive workers in this process:
a finished job delivered again, two workers on one job at once, a file that cannot be
parsed, an embedder that keeps failing, and the CLI without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.cli import main
from lockgate.cli.context import Ctx
from lockgate.cli.ingest import queued_runs, source_sync
from lockgate.ingest.queue import Delivery, RedisStreamQueue
from lockgate.ingest.worker import IngestWorker
from lockgate.store import tables as tb
from lockgate.store.ingest_jobs import IngestJobStore
from tests.support.redis_server import REDIS_URL, real_redis
from tests.support.server import serve
from tests.support.store import store_env

ROOT = Path(__file__).resolve().parents[2]
TAG = re.compile(r"doc-(\d+)")


class Embedder:
    """An OpenAI-compatible /v1/embeddings that records which document each request was
    for, can hold requests until released, and can fail the requests of chosen documents."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.gate: threading.Event | None = None
        self.held = 0
        self.failing: set[str] = set()

    def arm(self) -> None:
        """Hold every request from now on until `release`."""
        with self.lock:
            self.gate, self.held = threading.Event(), 0

    def wait_held(self, n: int, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                if self.held >= n:
                    return
            assert time.monotonic() < deadline, f"only {self.held} request(s) held"
            time.sleep(0.02)

    def release(self) -> None:
        with self.lock:
            gate, self.gate = self.gate, None
        if gate is not None:
            gate.set()

    def app(self) -> Starlette:
        async def embeddings(request: Request) -> Response:
            body = await request.json()
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            found = TAG.search(" ".join(inputs))
            tag = found.group(0) if found else "?"
            with self.lock:
                self.requests.append(tag)
                gate = self.gate
                if gate is not None:
                    self.held += 1
                failing = tag in self.failing
            while gate is not None and not gate.is_set():
                await asyncio.sleep(0.02)
            await asyncio.sleep(self.delay_s)
            if failing:
                return JSONResponse({"error": {"message": "embedder down"}}, status_code=500)
            data = [
                {"object": "embedding", "index": i, "embedding": [1.0, float(i % 7), 0.5, 0.25]}
                for i in range(len(inputs))
            ]
            return JSONResponse({"object": "list", "model": body["model"], "data": data})

        return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with real_redis() as shared:  # skips, saying so, when no Redis answers
        yield shared.config.prefix


@pytest.fixture
def embedder_server() -> Iterator[tuple[Embedder, str]]:
    emb = Embedder()
    with serve(emb.app()) as base:
        yield emb, base + "/v1"


def write_corpus(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        sections = "\n\n".join(
            f"## Part {k} of doc-{i}\n\n"
            + " ".join(
                f"Document doc-{i} section {k} sentence {s} about topic {i * 7 + k}."
                for s in range(12)
            )
            for k in range(3)
        )
        (folder / f"doc{i:02d}.md").write_text(f"# Doc {i}\n\n{sections}\n", encoding="utf-8")


def write_config(tmp_path: Path, embed_url: str, prefix: str, **queue: Any) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        # No retries or breaker inside the embedder: the queue's retries are what is counted.
        "embeddings": {
            "backend": "openai",
            "base_url": embed_url,
            "upstream_model": "e",
            "retry": {"retries": 0, "breaker": {"enabled": False}},
        },
        "redis": {"url": REDIS_URL, "prefix": prefix},
        "ingest": {
            "queue": {
                "visibility_timeout_s": 3.0,
                "heartbeat_s": 0.5,
                "block_s": 0.5,
                "backoff_s": 0.05,
                "max_failures": 2,
                **queue,
            }
        },
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def child_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **store_env(config.parent / "home")}


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate.cli", "--config", str(config), *args],
        env=child_env(config),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lockgate.cli", "--config", str(config), "worker", "ingest"],
        env=child_env(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def index_facts(engine: Engine) -> dict[str, Any]:
    """Per document: its versions and chunk rows, and the full-text entries in all."""
    d, v, c = tb.documents, tb.document_versions, tb.chunks
    with engine.connect() as conn:
        per_source = conn.execute(
            select(d.c.source, func.count())
            .select_from(d.join(v, v.c.document_id == d.c.id))
            .group_by(d.c.source)
        )
        versions = Counter({str(r[0]): int(r[1]) for r in per_source})
        chunk_rows = sum(conn.execute(select(func.count()).select_from(c)).scalars())
        declared = sum(conn.execute(select(func.sum(v.c.chunk_count))).scalars()) or 0
        positions = conn.execute(
            select(c.c.document_id, c.c.position, func.count())
            .group_by(c.c.document_id, c.c.position)
            .having(func.count() > 1)
        ).all()
        fts = "chunks_fts" if engine.dialect.name == "sqlite" else "chunks_tsv"
        fts_rows = conn.execute(text(f"SELECT count(*) FROM {fts}")).scalar_one()  # noqa: S608
    return {
        "versions": versions,
        "chunk_rows": chunk_rows,
        "declared_chunks": declared,
        "repeated_positions": positions,
        "fts_rows": fts_rows,
    }


def wait_finished(jobs: IngestJobStore, engine: Engine, run_id: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    r = tb.ingest_runs
    while True:
        with engine.connect() as conn:
            done = conn.execute(select(r.c.finished_at).where(r.c.id == run_id)).scalar()
        if done:
            return
        assert time.monotonic() < deadline, jobs.progress(run_id)
        time.sleep(0.2)


def test_two_workers_killed_repeatedly_index_every_file_once(
    tmp_path: Path,
    redis_prefix: str,
    embedder_server: tuple[Embedder, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emb, url = embedder_server
    n_docs, kills = 20, 4
    corpus = tmp_path / "corpus"
    write_corpus(corpus, n_docs)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n this is no pdf at all \x00\x01")
    config = write_config(tmp_path, url, redis_prefix)
    emb.arm()  # the first documents of both workers are held: the first kill lands there
    enq = cli(config, "ingest", str(corpus), "--queue", "--json")
    assert enq.returncode == 0, enq.stderr
    run_id = json.loads(enq.stdout)["run_id"]
    assert json.loads(enq.stdout)["jobs"] == n_docs + 1

    workers = [start_worker(config), start_worker(config)]
    try:
        for k in range(kills):
            emb.wait_held(2)  # both workers are waiting on the embedder, mid-document
            victim = k % 2
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(10)
            emb.release()
            emb.arm()  # the survivor's next document waits for the restarted worker's
            workers[victim] = start_worker(config)
        emb.wait_held(2)
        emb.release()
        ctx = Ctx(str(config))
        # The CLI's wiring reads the store from the environment, as a worker does; for
        # this test only, or every later test would open this one's database.
        for key, value in store_env(config.parent / "home").items():
            monkeypatch.setenv(key, value)
        services = ctx.services()
        jobs = IngestJobStore(services.engine)
        wait_finished(jobs, services.engine, run_id, timeout_s=180)
    finally:
        emb.release()
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()

    facts = index_facts(services.engine)
    docs = {str(p) for p in corpus.glob("*.md")}
    # Every file indexed, each with exactly one version: no document indexed twice.
    assert set(facts["versions"]) == docs
    assert set(facts["versions"].values()) == {1}
    # Each chunk exactly once: the rows, their positions and the keyword index agree.
    assert facts["chunk_rows"] == facts["declared_chunks"] > n_docs
    assert facts["repeated_positions"] == []
    assert facts["fts_rows"] == facts["chunk_rows"]
    # The kills landed mid-document: each cost its document one more embedding request.
    per_doc = Counter(emb.requests)
    assert set(per_doc) == {f"doc-{i}" for i in range(n_docs)}
    assert sum(per_doc.values()) >= n_docs + kills
    # Run counts, read from the job rows, as `lockgate runs show` prints them.
    progress = jobs.progress(run_id)
    assert progress["jobs"] == n_docs + 1
    assert progress["done"] == n_docs and progress["quarantined"] == 1
    assert progress["failed"] == progress["queued"] == progress["running"] == 0
    assert progress["outcomes"] == {"new": n_docs, "quarantined": 1}
    assert progress["chunks"] == facts["chunk_rows"]
    assert progress["redeliveries"] >= kills
    # The unparseable file was quarantined once, never retried.
    quarantine = services.documents.list_quarantine()
    assert [(Path(q["source"]).name, q["attempts"]) for q in quarantine] == [("broken.pdf", 1)]
    run = services.runs.get(run_id)
    assert run is not None and run["finished_at"] and run["kind"] == "queued"
    assert run["summary"]["new"] == n_docs and run["summary"]["chunks"] == facts["chunk_rows"]
    shown = cli(config, "runs", "show", str(run_id), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["progress"]["done"] == n_docs
    services.close()


# -- workers in this process ---------------------------------------------------------------


class Rig:
    """The CLI's own wiring (settings, services, queue) for workers in this process."""

    def __init__(self, config: Path) -> None:
        self.ctx = Ctx(str(config))
        self.settings = self.ctx.settings
        self.services = self.ctx.services()
        self.jobs = IngestJobStore(self.services.engine)
        self.runs = queued_runs(self.ctx)
        self.stop = threading.Event()
        self.queues: list[RedisStreamQueue] = []

    def queue(self) -> RedisStreamQueue:
        q = RedisStreamQueue(self.settings.redis, self.settings.ingest.queue)
        self.queues.append(q)
        return q

    def worker(self, name: str) -> IngestWorker:
        cfg = self.settings.ingest.queue
        ing = source_sync(self.ctx).ingestor
        return IngestWorker(self.queue(), self.jobs, ing, cfg, self.runs.close, self.stop, name)

    def enqueue(self, folder: Path) -> int:
        from lockgate.ingest.sync import spec_for

        return self.runs.enqueue([spec_for(str(folder))], self.queue(), prune=False).run_id

    def take_all(self, worker: IngestWorker) -> list[Delivery]:
        out: list[Delivery] = []
        while batch := worker.queue.take(worker.name, 10):
            out += batch
        return out

    def close(self) -> None:
        for q in self.queues:
            q.close()
        self.services.close()


@pytest.fixture
def rig(
    tmp_path: Path,
    redis_prefix: str,
    embedder_server: tuple[Embedder, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rig]:
    config = write_config(tmp_path, embedder_server[1], redis_prefix, block_s=0.2)
    for key, value in store_env(config.parent / "home").items():
        monkeypatch.setenv(key, value)
    r = Rig(config)
    yield r
    r.close()


def test_a_finished_job_delivered_again_is_acked_and_nothing_more(
    tmp_path: Path, rig: Rig, embedder_server: tuple[Embedder, str]
) -> None:
    emb, _ = embedder_server
    write_corpus(tmp_path / "c", 2)
    run_id = rig.enqueue(tmp_path / "c")
    w = rig.worker("w1")
    deliveries = rig.take_all(w)
    assert len(deliveries) == 2
    assert [w.handle(d) for d in deliveries] == ["new", "new"]
    # The same messages again, as after a worker died between commit and ack.
    assert [w.handle(d) for d in deliveries] == ["redelivered", "redelivered"]
    assert len(emb.requests) == 2
    facts = index_facts(rig.services.engine)
    assert set(facts["versions"].values()) == {1}
    assert facts["chunk_rows"] == facts["declared_chunks"]
    run = rig.services.runs.get(run_id)
    assert run is not None and run["finished_at"] and run["summary"]["new"] == 2
    assert rig.jobs.progress(run_id)["outcomes"] == {"new": 2}


def test_two_workers_on_one_job_index_it_once(
    tmp_path: Path, rig: Rig, embedder_server: tuple[Embedder, str]
) -> None:
    emb, _ = embedder_server
    write_corpus(tmp_path / "c", 1)
    run_id = rig.enqueue(tmp_path / "c")
    a, b = rig.worker("a"), rig.worker("b")
    [delivery] = rig.take_all(a)
    emb.arm()  # both get as far as the embedder before either commits
    outcomes: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda w=w: outcomes.__setitem__(w.name, w.handle(delivery)))
        for w in (a, b)
    ]
    for t in threads:
        t.start()
    emb.wait_held(2)
    emb.release()
    for t in threads:
        t.join(30)
    # One commit; the other found the content committed and wrote nothing.
    assert sorted(outcomes.values()) == ["new", "unchanged"]
    assert a.stats.duplicates + b.stats.duplicates == 1
    facts = index_facts(rig.services.engine)
    assert list(facts["versions"].values()) == [1]
    assert facts["chunk_rows"] == facts["declared_chunks"] == facts["fts_rows"]
    progress = rig.jobs.progress(run_id)
    assert progress["outcomes"] == {"new": 1} and progress["chunks"] == facts["chunk_rows"]


def test_a_failing_embedder_is_retried_a_bounded_number_of_times_then_dead_lettered(
    tmp_path: Path, rig: Rig, embedder_server: tuple[Embedder, str]
) -> None:
    emb, _ = embedder_server
    write_corpus(tmp_path / "c", 3)
    emb.failing = {"doc-1"}
    run_id = rig.enqueue(tmp_path / "c")
    w = rig.worker("w1")
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while rig.services.runs.get(run_id)["finished_at"] is None:  # type: ignore[index]
        assert time.monotonic() < deadline, rig.jobs.progress(run_id)
        seen += [w.handle(d) for d in w.queue.take(w.name, 1)]
    assert Counter(seen) == {"new": 2, "retried": 1, "failed": 1}  # max_failures: 2
    assert Counter(emb.requests)["doc-1"] == 2
    progress = rig.jobs.progress(run_id)
    assert progress["done"] == 2 and progress["failed"] == 1
    [failed] = rig.jobs.jobs(run_id, state="failed")
    assert failed["failures"] == 2 and "embedding upstream failed" in failed["error"]
    dead = w.queue.dead_letters()  # type: ignore[attr-defined]
    assert [Path(d["source"]).name for d in dead] == ["doc01.md"]
    assert w.queue.stats() == {"queued": 0, "in_flight": 0, "dead_letters": 1}
    # Nothing was indexed for it, and the source's state says a job failed. The embedder's
    # failure is held in quarantine (`lockgate docs retry` tries it again later).
    assert Path(failed["source"]).as_posix() not in index_facts(rig.services.engine)["versions"]
    quarantine = rig.services.documents.list_quarantine()
    assert [(q["source"], q["reason"]) for q in quarantine] == [
        (failed["source"], "embedding_failed")
    ]
    [source] = _sources(rig)
    assert source["last_error"] == "1 job(s) failed"


def _sources(rig: Rig) -> list[dict[str, Any]]:
    from lockgate.store.sources import SourceStore

    return SourceStore(rig.services.engine).list()


def test_a_worker_killed_mid_document_leaves_its_job_to_another(
    tmp_path: Path, rig: Rig, embedder_server: tuple[Embedder, str]
) -> None:
    """A delivery taken and never acked (its consumer is gone) is claimed by another worker
    after the visibility timeout, from scratch."""
    write_corpus(tmp_path / "c", 1)
    run_id = rig.enqueue(tmp_path / "c")
    dead, alive = rig.worker("dead"), rig.worker("alive")
    [taken] = rig.take_all(dead)
    rig.jobs.start(taken.job().job_id, dead.name)  # as far as the dead worker got
    assert alive.queue.take(alive.name, 1) == []  # not yet: it may still be working
    time.sleep(rig.settings.ingest.queue.visibility_timeout_s + 0.2)
    [again] = alive.queue.take(alive.name, 1)
    assert again.reclaimed and again.message_id == taken.message_id
    assert alive.handle(again) == "new"
    assert rig.jobs.jobs(run_id)[0]["attempts"] == 2
    assert list(index_facts(rig.services.engine)["versions"].values()) == [1]


def test_the_queue_needs_redis(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    env = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(tmp_path / "home")
    runner = CliRunner()
    for args in (["ingest", str(tmp_path / "c"), "--queue"], ["worker", "ingest"]):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 2, result.output
        assert "redis.url is not set" in result.output
        assert "Traceback" not in result.output


def test_a_run_whose_messages_redis_lost_is_requeued_and_finished_once(
    tmp_path: Path, rig: Rig, embedder_server: tuple[Embedder, str]
) -> None:
    emb, _ = embedder_server
    write_corpus(tmp_path / "c", 3)
    run_id = rig.enqueue(tmp_path / "c")
    w = rig.worker("w1")
    [first, *_] = rig.take_all(w)
    assert w.handle(first) == "new"
    w.queue.client.delete(w.queue.stream)  # a Redis restarted without its data
    assert rig.runs.requeue(run_id, w.queue) == 2  # only the unfinished jobs
    assert [w.handle(d) for d in rig.take_all(w)] == ["new", "new"]
    assert len(emb.requests) == 3
    run = rig.services.runs.get(run_id)
    assert run is not None and run["finished_at"] and run["summary"]["new"] == 3
    env = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env.update(store_env(rig.settings.home))
    shown = CliRunner().invoke(
        main, ["--config", rig.ctx.config_path or "", "runs", "jobs", str(run_id)], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("done        new") == 3 and "3 job(s)" in shown.output
