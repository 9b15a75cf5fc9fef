"""Processes: `lockgate serve --workers 1` against `--workers 2`, side by side in one run,
with the machine's ceiling for the ratio measured beside it.

    .venv/bin/python bench/bench_workers.py [--workers 1,2] [--conns 64,128] [--seconds 10]
        [--delay-ms 50] [--pipelines passthrough,default] [--stores sqlite,shared]
        [--pin] [--reference-burn-ms 2.0] [--json out.json]

A stdlib asyncio upstream answers after `--delay-ms`; wrk (2 threads, unique bodies,
bench/wrk_overload.lua) drives the gateway for `--seconds` per connection count after a
warm-up. Pipelines: `passthrough` is `[validate, call_model]`, `default` the embedded
default pipeline (rate limit, guardrails in and out, cache, release, routing, budget, ...).
Stores: `sqlite` is the embedded default (SQLite file, limits/cache/breakers in process);
`shared` is PostgreSQL (database `--pg-db`, made afresh for each gateway) with rate limits,
budgets, the exact cache and circuit breakers in Redis (db `--redis-db`, key prefix
`lg_scaling:`, flushed for each gateway): what several processes need to agree.

Throughput is answers with status 200 per second (a 503 shed by admission is counted as an
error, not as throughput). Every run reads, from /proc, the CPU (utime + stime) of wrk, of
the upstream and of each gateway process (the supervisor and each worker), their time
waiting for a core (schedstat), the whole machine's busy time (so the CPU other jobs took
is a number, not a guess) and how many of wrk's connections each worker accepted. From
those:

    cores ceiling = 2 cores x 1000 ms/s / (gateway + upstream + wrk CPU-ms per request)
    load ceiling  = req/s of wrk against the upstream alone, same connections
    ratio_limit   = min(cores ceiling, load ceiling) / one process's req/s

with the CPU-ms per request of the two-process run at the same connection count: the most
two processes could serve if this box's 2 cores did nothing else. The load ceiling is the
`upstream direct` row: a closed loop of C connections over a D ms upstream cannot pass
C / D requests per second whatever serves in between (64 connections over 50 ms: 1,280),
so at 64 connections a one-process rate above 750 req/s makes 1.7x impossible by
arithmetic; 128 connections lift that to 2,560. `free-core limit` takes away the CPU other
jobs used during the two-process run (machine busy time minus every process measured).

`--pin` adds rows with each gateway worker pinned to its own core (worker k on core k mod
cores; wrk and the upstream float): an extra view, not the main result.

`--reference-burn-ms 2.0[,1.5...]` adds `bench/burn_proxy.py` at 1 and 2 processes: a
stdlib pass-through proxy that spends that much CPU per request and has no other work, its
connections split least-connections first as the gateway's are. Its ratio is what this
machine gives a server of that cost under the same load, wrk and the upstream included, so
the gateway's ratio can be read against it (`--pipelines none`: the reference alone).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _procstat as ps
import yaml
from _common import machine, print_table, temp_home, write_json
from _serve import gateway, passthrough_config, upstream_process, wrk

from tests.support.server import free_port

PG_SERVER = os.environ.get("LOCKGATE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_SERVER = os.environ.get("LOCKGATE_BENCH_REDIS", "redis://127.0.0.1:6379")
REDIS_PREFIX = "lg_scaling:"
CORES = os.cpu_count() or 1


@dataclass
class Case:
    store: str
    pipeline: str
    pinned: bool

    @property
    def label(self) -> str:
        return f"{self.store}/{self.pipeline}" + ("/pinned" if self.pinned else "")


# ---- configs ----------------------------------------------------------------------------


def config_for(case: Case, home: Path, upstream_url: str, pg_db: str, redis_db: int) -> Path:
    extra: dict[str, Any] = {}
    if case.store == "shared":
        extra = {
            "store": {"url": f"{PG_SERVER}/{pg_db}"},
            "redis": {"url": f"{REDIS_SERVER}/{redis_db}", "prefix": REDIS_PREFIX},
            "limits": {"rules": [{"per": ["key"], "rpm": 100_000_000}], "store": "redis"},
            "budgets": {"store": "redis"},
            "breakers": {"store": "redis"},
        }
    path = passthrough_config(home, upstream_url, **extra)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    if case.pipeline == "default":
        # The embedded defaults: every stage, guardrails and the response cache on.
        for key in ("pipeline", "guardrails", "cache"):
            cfg.pop(key, None)
    if case.store == "shared":
        cfg["cache"] = {**cfg.get("cache", {}), "store": "redis"}
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def fresh_shared_state(pg_db: str, redis_db: int) -> None:
    """An empty PostgreSQL database and Redis db: each gateway starts as on a new host."""
    import redis
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin = create_engine(f"{PG_SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{pg_db}"'))
    admin.dispose()
    client = redis.Redis.from_url(f"{REDIS_SERVER}/{redis_db}")
    for key in client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000):
        client.delete(key)
    client.close()


# ---- one measured run -------------------------------------------------------------------


def workers_of(proc: subprocess.Popen[bytes], n: int) -> list[int]:
    """The processes serving requests: the one process, or the supervisor's spawned
    children (not multiprocessing's resource tracker)."""
    if n == 1:
        return [proc.pid]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = [k for k in ps.children(proc.pid) if b"spawn_main" in ps.cmdline(k)]
        if len(kids) >= n:
            return kids
        time.sleep(0.2)
    raise RuntimeError(f"expected {n} workers under {proc.pid}, found {ps.children(proc.pid)}")


def measure(
    base: str,
    port: int,
    conns: int,
    seconds: int,
    roots: dict[str, list[int]],
    workers: list[int],
) -> dict[str, Any]:
    """wrk for `seconds`; CPU and run-queue wait of every named process, the machine's
    busy time, and the workers' share of the connections (sampled mid-run)."""
    split: dict[int, int] = {}

    def sample() -> None:
        time.sleep(seconds / 2)
        split.update(ps.connections_by_pid(port, workers))

    sampler = threading.Thread(target=sample, daemon=True)
    before = {name: ps.total(pids) for name, pids in roots.items()}
    busy0, t0 = ps.machine_busy_s(), time.monotonic()
    sampler.start()
    r = wrk(base, conns, seconds)
    wall = time.monotonic() - t0
    busy = ps.machine_busy_s() - busy0
    used = {name: ps.total(pids) - before[name] for name, pids in roots.items()}
    sampler.join()
    used["wrk"] = ps.Usage(r["cpu_s"], 0.0)
    ok = r["statuses"].get(200, 0)
    ours = sum(u.cpu_s for u in used.values())
    errors = sum(v for k, v in r["statuses"].items() if k != 200) + sum(r["socket_errors"].values())
    return {
        "conns": conns,
        # Answered (200) per second: a 503 shed by admission is not throughput.
        "rps": round(ok / (r["duration_us"] / 1e6), 1),
        "all_rps": r["rps"],
        "ok": ok,
        "errors": errors,
        "p50_ms": round(r["p50_us"] / 1000, 1),
        "p99_ms": round(r["p99_us"] / 1000, 1),
        "wall_s": round(wall, 2),
        "cpu_ms_per_request": ps.per_request_ms(used, ok),
        "cores_used": {k: round(u.cpu_s / wall, 3) for k, u in used.items()},
        "runq_wait_share": {k: round(u.runq_wait_s / wall, 3) for k, u in used.items()},
        "machine_busy_cores": round(busy / wall, 3),
        "other_jobs_cores": round(max(busy - ours, 0.0) / wall, 3),
        "connections_per_worker": [split.get(w, 0) for w in workers],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def gateway_ms(run: dict[str, Any]) -> float:
    return sum(v for k, v in run["cpu_ms_per_request"].items() if k.startswith("gateway"))


def component_ms(run: dict[str, Any]) -> float:
    """CPU-ms per request of everything on the request's path: gateway, upstream, wrk (and
    PostgreSQL's backends and Redis with the shared store)."""
    return float(sum(run["cpu_ms_per_request"].values()))


def shared_servers(pg_db: str) -> dict[str, list[int]]:
    """PostgreSQL's backends connected to `pg_db` and the Redis server (all of its CPU:
    another job using the same Redis counts here too)."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (
                Path(entry.path, "cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
            if cmd.startswith("postgres: ") and f" {pg_db} " in cmd:
                found["postgres"].append(int(entry.name))
            elif cmd.startswith("redis-server") or "/redis-server" in cmd.split(" ", 1)[0]:
                found["redis"].append(int(entry.name))
    return found


# ---- the runs ---------------------------------------------------------------------------


@contextlib.contextmanager
def serving(
    case: Case, n: int, root: Path, up_url: str, args: argparse.Namespace
) -> Iterator[tuple[str, int, subprocess.Popen[bytes], list[int]]]:
    home = root / f"{case.label.replace('/', '-')}-w{n}"
    home.mkdir(parents=True)
    if case.store == "shared":
        fresh_shared_state(args.pg_db, args.redis_db)
    config = config_for(case, home, up_url, args.pg_db, args.redis_db)
    port = free_port()
    with gateway(config, port, n) as proc:
        workers = workers_of(proc, n)
        if case.pinned:
            for k, pid in enumerate(workers):
                ps.set_affinity(pid, {k % CORES})
        yield f"http://127.0.0.1:{port}", port, proc, workers


def run_case(
    case: Case,
    counts: list[int],
    conns: list[int],
    root: Path,
    up: tuple[str, int],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    up_url, up_pid = up
    out = []
    for n in counts:
        with serving(case, n, root, up_url, args) as (base, port, proc, workers):
            wrk(base, max(conns), args.warmup)  # every worker's connections and pools warm
            roots = {"upstream": [up_pid]}
            if n > 1:
                roots["gateway supervisor"] = [proc.pid]
            roots.update({f"gateway w{k + 1}": [pid] for k, pid in enumerate(workers)})
            for c in conns:
                if case.store == "shared":
                    roots.update(shared_servers(args.pg_db))
                settle(port, workers)
                r = measure(base, port, c, args.seconds, roots, workers)
                r.update(case=case.label, workers=n)
                out.append(r)
                print(f"  {case.label} workers={n} conns={c}: {r['rps']} req/s", flush=True)
    return out


@contextlib.contextmanager
def reference(
    n: int, burn_ms: float, up_port: int
) -> Iterator[tuple[str, int, subprocess.Popen[bytes], list[int]]]:
    """`bench/burn_proxy.py` with `n` processes: a server costing `burn_ms` of CPU per
    request and no more, for the ratio the machine allows a server of that cost."""
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).with_name("burn_proxy.py")), str(port)]
    cmd += [str(up_port), "--procs", str(n), "--burn-ms", str(burn_ms)]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 30
        while len(ps.children(proc.pid)) < n:
            if time.monotonic() > deadline:
                raise RuntimeError("the reference proxy did not start its processes")
            time.sleep(0.05)
        time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", port, proc, ps.children(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def run_reference(
    burns: list[float], counts: list[int], conns: list[int], up: tuple[str, int], seconds: int
) -> list[dict[str, Any]]:
    up_url, up_pid = up
    up_port = int(up_url.removesuffix("/v1").rsplit(":", 1)[1])
    out = []
    for burn_ms in burns:
        label = f"reference/burn {burn_ms:g} ms"
        for n in counts:
            with reference(n, burn_ms, up_port) as (base, port, proc, workers):
                wrk(base, max(conns), 2)
                roots = {"upstream": [up_pid]}
                roots.update({f"gateway w{k + 1}": [pid] for k, pid in enumerate(workers)})
                for c in conns:
                    settle(port, workers)
                    r = measure(base, port, c, seconds, roots, workers)
                    r.update(case=label, workers=n)
                    out.append(r)
                    print(f"  {label} workers={n} conns={c}: {r['rps']} req/s", flush=True)
    return out


def settle(port: int, workers: list[int], timeout_s: float = 30.0) -> None:
    """Until the workers hold none of the last run's connections, and a moment more: a
    worker still busy with the last run's requests reports its closed connections late,
    and the supervisor, which hands each connection to the worker holding the fewest,
    would count the late one as still full."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(ps.connections_by_pid(port, workers).values()):
        time.sleep(0.1)
    time.sleep(1.0)


def run_direct(conns: list[int], up: tuple[str, int], seconds: int) -> list[dict[str, Any]]:
    url, pid = up
    base = url.removesuffix("/v1")
    wrk(base, max(conns), 2)
    out = []
    for c in conns:
        r = measure(base, int(base.rsplit(":", 1)[1]), c, seconds, {"upstream": [pid]}, [])
        r.update(case="upstream direct", workers=0)
        out.append(r)
    return out


# ---- the tables -------------------------------------------------------------------------


def ceilings(results: list[dict[str, Any]], one: int, two: int) -> list[dict[str, Any]]:
    """Per case and connection count: the most two processes could serve here, against one
    process's req/s. Two limits: the cores (2 x 1000 ms/s over the CPU-ms per request of
    gateway, upstream and wrk in the two-process run) and the load (what wrk gets from the
    upstream alone at the same connections: a closed loop of C connections over a D ms
    upstream cannot pass C / D requests per second, whatever serves in between)."""
    by = {(r["case"], r["workers"], r["conns"]): r for r in results}
    out = []
    for (case, n, c), r2 in by.items():
        r1 = by.get((case, one, c))
        if n != two or r1 is None or not r1["rps"]:
            continue
        direct = by.get(("upstream direct", 0, c))
        per_req = component_ms(r2)
        cpu_ceiling = CORES * 1000 / per_req if per_req else float("nan")
        load_ceiling = direct["rps"] if direct else float("inf")
        ceiling = min(cpu_ceiling, load_ceiling)
        free = max(CORES - r2["other_jobs_cores"], 0.0)
        free_ceiling = min(free * 1000 / per_req, load_ceiling) if per_req else float("nan")
        measured = r2["rps"] / r1["rps"]
        out.append(
            {
                "case": case,
                "conns": c,
                "one_rps": r1["rps"],
                "two_rps": r2["rps"],
                "measured_ratio": round(measured, 2),
                "gateway_ms": round(gateway_ms(r2), 3),
                "upstream_ms": r2["cpu_ms_per_request"]["upstream"],
                "wrk_ms": r2["cpu_ms_per_request"]["wrk"],
                "shared_ms": round(
                    per_req
                    - gateway_ms(r2)
                    - r2["cpu_ms_per_request"]["upstream"]
                    - r2["cpu_ms_per_request"]["wrk"],
                    3,
                ),
                "cpu_ceiling_rps": round(cpu_ceiling, 1),
                "load_ceiling_rps": load_ceiling if direct else None,
                "limited_by": "cores" if cpu_ceiling <= load_ceiling else "load",
                "ceiling_rps": round(ceiling, 1),
                "ratio_limit": round(ceiling / r1["rps"], 2),
                "share_of_limit": round(measured / (ceiling / r1["rps"]), 2),
                "free_cores": round(free, 2),
                "free_ratio_limit": round(free_ceiling / r1["rps"], 2),
            }
        )
    return out


def print_runs(results: list[dict[str, Any]], one: int) -> None:
    by = {(r["case"], r["workers"], r["conns"]): r for r in results}
    rows = []
    for r in results:
        base = by.get((r["case"], one, r["conns"]))
        ratio = round(r["rps"] / base["rps"], 2) if base and base["rps"] and r["workers"] else None
        cores = r["cores_used"]
        gw_cores = [v for k, v in cores.items() if k.startswith("gateway w")]
        wait = r["runq_wait_share"]
        rows.append(
            [
                r["case"],
                r["workers"] or "-",
                r["conns"],
                r["rps"],
                ratio if ratio is not None else "-",
                r["p50_ms"],
                r["p99_ms"],
                r["errors"],
                round(gateway_ms(r), 2) if r["workers"] else "-",
                r["cpu_ms_per_request"]["upstream"],
                r["cpu_ms_per_request"]["wrk"],
                _shared_ms(r),
                "/".join(f"{v:.2f}" for v in gw_cores) or "-",
                "/".join(f"{wait[k]:.2f}" for k in wait if k.startswith("gateway w")) or "-",
                "/".join(str(v) for v in r["connections_per_worker"]) or "-",
                r["other_jobs_cores"],
                round(max(CORES - r["machine_busy_cores"], 0.0), 2),
            ]
        )
    print_table(
        f"lockgate serve --workers N, {CORES} cores shared by wrk, the upstream and the gateway",
        [
            "case",
            "workers",
            "conns",
            "200s/s",
            f"x {one}",
            "p50 ms",
            "p99 ms",
            "errors",
            "gw CPU-ms/req",
            "upstream",
            "wrk",
            "pg+redis",
            "cores per worker",
            "runq wait/worker",
            "conns/worker",
            "other jobs cores",
            "idle cores",
        ],
        rows,
    )
    shared = max((r["other_jobs_cores"] for r in results), default=0.0)
    if shared > 0.25:
        print(
            f"\nother jobs used up to {shared:.2f} of the {CORES} cores during these runs: "
            "req/s and ratios are what was left to this benchmark, not the gateway's; the "
            "CPU-ms per request still hold. Rerun on a quiet box for the ratio."
        )


def _shared_ms(run: dict[str, Any]) -> float | str:
    ms = run["cpu_ms_per_request"]
    if "postgres" not in ms:
        return "-"
    return round(ms["postgres"] + ms.get("redis", 0.0), 2)


def print_ceilings(rows: list[dict[str, Any]]) -> None:
    print_table(
        "The ceiling for two processes: min(cores: 2000 ms/s / (gateway + upstream + wrk "
        "CPU-ms/req of the 2-process run), load: upstream direct req/s)",
        [
            "case",
            "conns",
            "1 proc req/s",
            "2 proc req/s",
            "measured x",
            "gw+up+wrk(+db) ms",
            "cores ceiling",
            "load ceiling",
            "ratio limit",
            "measured/limit",
            "free cores",
            "free-core limit",
        ],
        [
            [
                r["case"],
                r["conns"],
                r["one_rps"],
                r["two_rps"],
                r["measured_ratio"],
                f"{r['gateway_ms']:.2f}+{r['upstream_ms']:.2f}+{r['wrk_ms']:.2f}"
                + (f"+{r['shared_ms']:.2f}" if r["shared_ms"] else ""),
                r["cpu_ceiling_rps"],
                r["load_ceiling_rps"] if r["load_ceiling_rps"] is not None else "-",
                f"{r['ratio_limit']:.2f} ({r['limited_by']})",
                r["share_of_limit"],
                r["free_cores"],
                r["free_ratio_limit"],
            ]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--conns", default="64,128")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--pipelines", default="passthrough", help="passthrough,default")
    ap.add_argument("--stores", default="sqlite", help="sqlite,shared (PostgreSQL + Redis)")
    ap.add_argument("--pin", action="store_true", help="also each worker on its own core")
    ap.add_argument("--pg-db", default="lg_scaling")
    ap.add_argument("--redis-db", type=int, default=11)
    ap.add_argument(
        "--reference-burn-ms",
        default="",
        help="also bench/burn_proxy.py at these CPU-ms per request (e.g. 2.0): "
        "the ratio this machine allows a server of that cost, beside the gateway's",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    conns = [int(c) for c in args.conns.split(",")]
    cases = (
        []
        if args.pipelines == "none"
        else [
            Case(store, pipeline, pinned)
            for store in args.stores.split(",")
            for pipeline in args.pipelines.split(",")
            for pinned in ((False, True) if args.pin else (False,))
        ]
    )
    for case in cases:
        if case.store not in ("sqlite", "shared") or case.pipeline not in (
            "passthrough",
            "default",
        ):
            ap.error(f"unknown store/pipeline {case.label}")
    load_start = [round(x, 2) for x in os.getloadavg()]
    results: list[dict[str, Any]] = []
    with (
        temp_home("lockgate-workers-") as root,
        upstream_process(free_port(), args.delay_ms) as (up_url, up_proc),
    ):
        up = (up_url, up_proc.pid)
        results += run_direct(conns, up, args.seconds)
        for case in cases:
            results += run_case(case, counts, conns, root, up, args)
        burns = [float(b) for b in args.reference_burn_ms.split(",") if b]
        results += run_reference(burns, counts, conns, up, args.seconds)
    limits = ceilings(results, counts[0], counts[-1]) if len(counts) > 1 else []
    print(f"\nload average at start {load_start}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print_runs(results, counts[0])
    if limits:
        print_ceilings(limits)
    write_json(
        args.json,
        {"machine": machine(), "args": vars(args), "results": results, "ceilings": limits},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
