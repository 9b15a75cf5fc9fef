"""CPU milliseconds per request, stage by stage, for the default pipeline and pass-through.

    .venv/bin/python bench/bench_stages.py [--requests 100] [--rounds 9] [--json out.json]
    .venv/bin/python bench/bench_stages.py --compare /tmp/wt-main/src    # before | after

Each tree under test runs in a process of its own with two gateways in process, one with
the default pipeline and one pass-through (`[call_model]`), sent unique pass-through
requests (cache misses, model `fast`) through httpx's ASGI transport. Requests go one at a
time so that the process's CPU time (all its threads: the event loop, the CPU gate, the
scanner pool) between two points is the one request's: the pipeline's own stage timer is
pointed at that clock (`time.process_time`) instead of the wall clock, so each trace's
stage timings are CPU-ms, answer work (the cache store, the output scan) included.
"outside the stages" is the whole request's CPU (the process's over the block, divided by
its requests) less the stages': the HTTP app, authentication, the trace write, metrics and
the client. The upstream (the stdlib fake, answering at once) runs in a process of its own,
so its CPU is not counted.

The gateways have the default settings (guardrails on, cache on, encryption at rest,
traces, metrics) except: anonymous callers, no rate limit in the way, and a router route for
the requested model (`fast` -> small `fast-small` / large `fast`), so the route stage
decides.

`--compare SRC` measures the code under SRC (a worktree's `src`) beside this tree's: the
parent runs one block at a time, round by round, alternating the trees (the first one
swaps every round), so both share the machine's noise without competing for it. Each
number is the median over the rounds of a block's mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUTSIDE = "outside the stages"
# The gateways each tree runs: None is the default pipeline of that tree.
PIPELINES: dict[str, list[str] | None] = {"default": None, "passthrough": ["call_model"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "stdlib_upstream.py"), str(port)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the fake upstream did not start")


# ---- one side (a child process with one source tree first on the path) --------------------


def _stage_log() -> tuple[Any, dict[int, list[list[dict[str, Any]]]]]:
    """A plugin that keeps the stage timings of every finished turn, by gateway."""
    from lockgate.observability.events import TurnFinished
    from lockgate.plugins.hookspecs import hookimpl

    by_gateway: dict[int, list[list[dict[str, Any]]]] = defaultdict(list)

    class StageLog:
        @hookimpl
        def track_event(self, event: Any, services: Any) -> None:
            if isinstance(event, TurnFinished):
                by_gateway[id(services)].append(list(event.trace.get("stages") or ()))

    return StageLog(), by_gateway


def _cpu_clock() -> None:
    """Point the pipeline's stage timer at the process's CPU clock."""
    from lockgate.engine import answer, pipeline

    clock = types.SimpleNamespace(perf_counter=time.process_time)
    pipeline.time = clock  # type: ignore[assignment]
    answer.time = clock  # type: ignore[assignment]


def _app(home: Path, upstream: str, pipeline: list[str]) -> Any:
    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.services import Services

    models = dict(Settings(home=home).models)  # type: ignore[call-arg]
    for name in ("fast", "fast-small"):
        models[name] = ModelSpec(backend="openai", base_url=upstream + "/v1", context_window=8192)
    settings = Settings(  # type: ignore[call-arg]
        home=home,
        models=models,
        pipeline=pipeline,
        auth={"allow_anonymous": True},
        limits={"rules": [{"per": ["key"], "rpm": 100_000_000}]},
        routing={"routes": {"fast": {"small": "fast-small", "large": "fast"}}},
    )
    return create_app(Services(settings), preload_models=False)


async def _block(app: Any, first: int, n: int) -> float:
    """CPU seconds of this process for `n` requests, one at a time (the lifespan's start
    outside, its stop inside: it flushes what the requests left behind)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://gateway")
    async with app.router.lifespan_context(app), client:
        t0 = time.process_time()
        for i in range(first, first + n):
            body = {
                "model": "fast",
                "max_tokens": 16,
                # Unique per request: every request is a cache miss.
                "messages": [{"role": "user", "content": f"How many days of leave? [request {i}]"}],
            }
            resp = await client.post("/v1/chat/completions", json=body)
            if resp.status_code != 200:
                raise RuntimeError(f"{resp.status_code}: {resp.text[:300]}")
    return time.process_time() - t0


async def _one(app: Any, log: dict[int, list[list[dict[str, Any]]]], first: int, n: int) -> Any:
    """One measured block: the whole request's CPU-ms and each stage's, per request."""
    turns = log[id(app.state.services)]
    turns.clear()
    cpu_ms = await _block(app, first, n) * 1000 / n
    if len(turns) != n:
        raise RuntimeError(f"{len(turns)} turns recorded for {n} requests")
    sums: dict[str, float] = defaultdict(float)
    for timings in turns:
        for t in timings:
            sums[str(t["stage"])] += float(t["ms"])
    stages = {stage: total / n for stage, total in sums.items()}
    stages[OUTSIDE] = cpu_ms - sum(stages.values())
    return {"cpu_ms": cpu_ms, "stages": stages}


async def _serve_blocks(apps: dict[str, Any], log: Any, proto: Any) -> None:
    """Warm up, then measure one block per command line (`GATEWAY N`) from the parent, so
    that the parent can alternate the trees block by block. One event loop throughout: the
    gateways' upstream clients belong to the loop that first used them."""
    loop = asyncio.get_running_loop()
    counter = 0
    for app in apps.values():  # lazy scanner loads, connections, hot code paths
        await _block(app, counter, 30)
        counter += 30
    proto.write("ready\n")
    proto.flush()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line:
            return
        name, n = line[0], int(line[1])
        result = await _one(apps[name], log, counter, n)
        counter += n
        proto.write(json.dumps(result) + "\n")
        proto.flush()


def child(args: argparse.Namespace) -> int:
    # The tree under test goes first on the path, before anything imports lockgate.
    sys.path.insert(0, str(Path(args.src).resolve()))
    # Pipelines without `review` warn; the pass-through one leaves it out on purpose.
    logging.getLogger("lockgate.engine").setLevel(logging.ERROR)
    # The results go over the original stdout; anything else printed goes to stderr.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    from lockgate.plugins.manager import plugin_manager

    _cpu_clock()
    plugin, log = _stage_log()
    plugin_manager().register(plugin, name="bench-stage-log")
    with tempfile.TemporaryDirectory(prefix="lockgate-stages-") as tmp:
        apps = {}
        for name, pipeline in PIPELINES.items():
            home = Path(tmp) / name
            home.mkdir()
            apps[name] = _app(home, args.upstream, pipeline or _default_pipeline())
        asyncio.run(_serve_blocks(apps, log, proto))
    return 0


def _default_pipeline() -> list[str]:
    from lockgate.config import DEFAULT_PIPELINE

    return list(DEFAULT_PIPELINE)


# ---- the parent: the upstream, one child per tree, the tables --------------------------


class _Side:
    """A child process measuring one tree, a block at a time on command."""

    def __init__(self, src: Path, upstream: str) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--src", str(src),
               "--upstream", upstream]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{ROOT}")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.src = src

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the measurement of {self.src} failed (see its output above)")
        return line

    def ready(self) -> None:
        if self._read().strip() != "ready":
            raise SystemExit(f"the measurement of {self.src} did not start")

    def block(self, gateway: str, n: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{gateway} {n}\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._read()))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def measure(sides: dict[str, Path], n: int, rounds: int) -> dict[str, Any]:
    """Round by round, each gateway's block on each tree in turn (the first tree alternating),
    so that only one block runs at a time and the machine's noise is shared."""
    proc, upstream = _start_upstream()
    children: dict[str, _Side] = {}
    try:
        children = {name: _Side(src, upstream) for name, src in sides.items()}
        for child_side in children.values():
            child_side.ready()
        blocks: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {gw: [] for gw in PIPELINES} for name in sides
        }
        order = list(sides)
        for r in range(rounds):
            for gateway in PIPELINES:
                for name in order if r % 2 == 0 else reversed(order):
                    blocks[name][gateway].append(children[name].block(gateway, n))
    finally:
        for child_side in children.values():
            child_side.close()
        proc.terminate()
        proc.wait(timeout=10)
    out: dict[str, Any] = {}
    for name, by_gateway in blocks.items():
        gateways = {}
        for gateway, runs in by_gateway.items():
            names = list(dict.fromkeys(s for run in runs for s in run["stages"]))
            gateways[gateway] = {
                "cpu_ms_per_request": statistics.median(run["cpu_ms"] for run in runs),
                "rounds_cpu_ms": [run["cpu_ms"] for run in runs],
                "stage_cpu_ms": {
                    s: statistics.median(run["stages"].get(s, 0.0) for run in runs) for s in names
                },
            }
        out[name] = {"src": str(sides[name]), "gateways": gateways}
    return out


def _default_order() -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from lockgate.config import DEFAULT_PIPELINE

    return list(DEFAULT_PIPELINE)


def _rows(results: dict[str, dict[str, Any]], gateway: str) -> list[list[Any]]:
    names = list(results)
    sides = [results[n]["gateways"][gateway] for n in names]
    order = ["validate", *_default_order(), "call_model", OUTSIDE]
    seen = {s for side in sides for s in side["stage_cpu_ms"]}
    stages = [s for s in dict.fromkeys(order) if s in seen]
    stages += sorted(seen - set(stages))

    def row(label: str, values: list[float | None]) -> list[Any]:
        cells: list[Any] = [label, *(float("nan") if v is None else v for v in values)]
        if len(values) == 2:
            a, b = values
            cells.append(f"{b - a:+.2f}" if a is not None and b is not None else "-")
        return cells

    rows = [row(s, [side["stage_cpu_ms"].get(s) for side in sides]) for s in stages]
    rows.append(row("= whole request", [side["cpu_ms_per_request"] for side in sides]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--compare", default=None, help="another tree's src to run beside")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", default=str(ROOT / "src"), help=argparse.SUPPRESS)
    parser.add_argument("--upstream", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, str(HERE))
    from _common import print_table, write_json

    sides: dict[str, Path] = {"this tree": ROOT / "src"}
    if args.compare:
        sides = {"compared": Path(args.compare).resolve(), **sides}
    results = measure(sides, args.requests, args.rounds)

    headers = ["stage", *(f"{n} CPU-ms" for n in results)]
    if len(results) == 2:
        headers.append("change")
    for gateway, title in (
        ("default", "default pipeline"),
        ("passthrough", "pass-through [call_model]"),
    ):
        print_table(
            f"{title}: CPU-ms per request by stage ({args.rounds} rounds x {args.requests} "
            "unique pass-through requests, one at a time; medians)",
            headers,
            _rows(results, gateway),
        )
    write_json(args.json, {"sides": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
