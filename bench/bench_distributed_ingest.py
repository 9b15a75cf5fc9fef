"""Queued ingest: chunks/s with 1 and 2 `lockgate worker ingest` processes, side by side.

    .venv/bin/python bench/bench_distributed_ingest.py [--docs 300] [--setups 1,2,1x2]
        [--store sqlite|postgresql] [--delay-ms 0] [--json out.json]

A generated Markdown corpus (`--docs` files of 4 sections, ~4 chunks each) is queued with
`lockgate ingest DIR --queue` on the local Redis (a fresh key prefix per setup) and a fresh
store per setup; the workers are started first and are waiting on the queue, so the time is
the run's own: from the first job's start to the run's close (both read from the store).
Setups: `N` is N worker processes, `NxC` N processes with `--concurrency C` threads each.
Besides chunks/s: the mean wall time of one job, and the workers' own CPU-ms per chunk (from
/proc), which does not depend on how busy the box is.

The embedder is bench/fake_embed_server.py (stdlib asyncio, hash vectors of 384 floats,
answered at once or after `--delay-ms`) in this process, so what is measured is the
pipeline: read, parse, chunk, the HTTP call, the commit, the queue. On a 2-core box shared
with other work, 2 processes compete with the fake server, Redis and the store for those
cores: the speed-up is bounded well below 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import yaml
from _common import ROOT, machine, print_table, temp_home, write_json
from _serve import cpu_s
from fake_embed_server import FakeEmbedServer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from lockgate.store import tables as tb

REDIS_URL = os.environ.get("LOCKGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_SERVER = os.environ.get("LOCKGATE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
DIM = 384


# -- corpus, config, processes -----------------------------------------------------------------
def write_corpus(folder: Path, n: int, first: int = 0) -> None:
    folder.mkdir(parents=True)
    for i in range(first, first + n):
        parts = []
        for k in range(4):
            words = " ".join(
                f"Record {i}-{k}-{s}: the policy for item {i * 13 + s} in region {k} changed."
                for s in range(11)
            )
            parts.append(f"## Section {k}\n\n{words}")
        (folder / f"doc{i:04d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(parts))


def store_url(kind: str, home: Path, admin: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{home / 'lockgate.db'}"
    name = f"lg_distingest_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return f"{PG_SERVER}/{name}"


def write_config(root: Path, embed_url: str, prefix: str, url: str) -> Path:
    cfg = {
        "home": str(root / "home"),
        "store": {"url": url},
        "embeddings": {"backend": "openai", "base_url": embed_url, "upstream_model": "fake"},
        "redis": {"url": REDIS_URL, "prefix": prefix},
        # Near-duplicate grouping runs once at the run's close; the corpus has none.
        "ingest": {"near_duplicates": {"enabled": False}, "queue": {"block_s": 0.5}},
    }
    path = root / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def lockgate(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lockgate.cli", "--config", str(config), *args]


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    return {**base, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def wait_consumers(client: Any, stream: str, group: str, n: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if len(client.xinfo_consumers(stream, group)) >= n:
                return
        except redis.ResponseError:  # the group is made by the first worker's first read
            pass
        time.sleep(0.2)
    raise RuntimeError("the workers did not start (their stderr: worker.log in the setup's folder)")


def enqueue(config: Path, folder: Path) -> int:
    done = subprocess.run(
        lockgate(config, "ingest", str(folder), "--queue", "--json"),
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(done.stdout)["run_id"])


def wait_run(engine: Any, run_id: int, timeout_s: float = 1800) -> float:
    """When the run closed (its finished_at)."""
    r = tb.ingest_runs
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as conn:
            finished = conn.execute(select(r.c.finished_at).where(r.c.id == run_id)).scalar()
        if finished:
            return float(finished)
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} did not finish")
        time.sleep(0.25)


def run_setup(
    setup: str, corpus: Path, root: Path, embed_url: str, store: str, admin: Any
) -> dict[str, Any]:
    procs_n, _, conc = setup.partition("x")
    procs, concurrency = int(procs_n), int(conc or 1)
    root.mkdir(parents=True)
    prefix = f"lockgate-bench-{uuid.uuid4().hex[:8]}:"
    url = store_url(store, root / "home", admin)
    config = write_config(root, embed_url, prefix, url)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    subprocess.run(
        lockgate(config, "runs", "list"), env=env(), check=True, capture_output=True
    )  # migrate the store before the workers race to
    workers = [
        subprocess.Popen(
            lockgate(config, "worker", "ingest", "--concurrency", str(concurrency)),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=(root / "worker.log").open("ab"),
        )
        for _ in range(procs)
    ]
    engine = create_engine(url, poolclass=NullPool)
    try:
        # The stream and group exist once something is queued or a worker has read.
        client.xgroup_create(prefix + "ingest:jobs", "ingest-workers", id="0", mkstream=True)
        wait_consumers(client, prefix + "ingest:jobs", "ingest-workers", procs * concurrency)
        # Warm-up: each worker's first document loads the parsers and language profiles
        # (seconds); a run of its own takes that out of the measured one.
        wait_run(engine, enqueue(config, corpus.parent / "warmup"))
        cpu0 = cpu_s([w.pid for w in workers])
        run_id = enqueue(config, corpus)
        finished = wait_run(engine, run_id)
        worker_cpu = cpu_s([w.pid for w in workers]) - cpu0
        j = tb.ingest_jobs
        with engine.connect() as conn:
            row = conn.execute(
                select(func.min(j.c.started_at), func.sum(j.c.chunks)).where(j.c.run_id == run_id)
            ).one()
            started, chunks = float(row[0]), int(row[1] or 0)
            states = dict(
                conn.execute(
                    select(j.c.state, func.count()).where(j.c.run_id == run_id).group_by(j.c.state)
                ).all()
            )
            per_job = conn.execute(
                select(func.avg(j.c.finished_at - j.c.started_at)).where(j.c.run_id == run_id)
            ).scalar_one()
            by_worker = conn.execute(
                select(j.c.worker, func.count()).where(j.c.run_id == run_id).group_by(j.c.worker)
            ).all()
        docs = states.get("done", 0)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        engine.dispose()
        if admin is not None:
            name = url.rsplit("/", 1)[1]
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    seconds = finished - started
    return {
        "setup": setup,
        "processes": procs,
        "concurrency": concurrency,
        "documents": docs,
        "chunks": chunks,
        "jobs": dict(states),
        "seconds": round(seconds, 2),
        "chunks_per_s": round(chunks / seconds, 1),
        "docs_per_s": round(docs / seconds, 1),
        # Wall time of one job in a worker: what grows when the processes share the cores.
        "job_ms_mean": round(float(per_job or 0) * 1000, 1),
        # The workers' own CPU per chunk, which a busy box does not change: flat from 1 to 2
        # workers means nothing in the pipeline serialises them.
        "worker_cpu_ms_per_chunk": round(1000 * worker_cpu / max(chunks, 1), 2),
        "jobs_per_consumer": sorted(int(n) for _, n in by_worker),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--setups", default="1,2")
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    setups = args.setups.split(",")
    admin = None
    if args.store == "postgresql":
        admin = create_engine(
            f"{PG_SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
    fake = FakeEmbedServer(dim=DIM, delay_s=args.delay_ms / 1000)
    results = []
    with temp_home("lockgate-distingest-") as root, fake:
        embed_url = fake.base_url
        corpus = root / "corpus"
        write_corpus(corpus, args.docs)
        write_corpus(root / "warmup", 8, first=10**6)
        for setup in setups:
            print(f"setup {setup} ...", flush=True)
            results.append(
                run_setup(setup, corpus, root / f"s{setup}", embed_url, args.store, admin)
            )
    base = results[0]["chunks_per_s"]
    rows = [
        [
            r["setup"],
            r["processes"],
            r["concurrency"],
            r["documents"],
            r["chunks"],
            r["seconds"],
            r["chunks_per_s"],
            r["docs_per_s"],
            r["job_ms_mean"],
            r["worker_cpu_ms_per_chunk"],
            round(r["chunks_per_s"] / base, 2),
        ]
        for r in results
    ]
    print_table(
        f"Queued ingest, {args.docs} documents, store {args.store}, fake embedder "
        f"{args.delay_ms:g} ms, {os.cpu_count()} CPUs",
        [
            "setup",
            "procs",
            "threads",
            "docs",
            "chunks",
            "s",
            "chunks/s",
            "docs/s",
            "ms/job",
            "cpu ms/chunk",
            "vs first",
        ],
        rows,
    )
    write_json(
        args.json,
        {
            "args": vars(args),
            "results": results,
            "machine": machine(),
            "embed_requests": fake.stats.requests,
        },
    )
    if admin is not None:
        admin.dispose()
    bad = [r for r in results if r["jobs"].get("done", 0) != args.docs]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
