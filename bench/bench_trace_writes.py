"""CPU per trace written: one transaction per trace (what a request did before the event
writer) against the event writer's batches (group commit), on one SQLite store.

    .venv/bin/python bench/bench_trace_writes.py [--traces 2000] [--rate 500] [--json out.json]

The rows are real: one turn runs through the engine (pass-through pipeline, the in-process
mock backend, encryption at rest on) and its trace row is written again under fresh ids.
`one per request` calls `TraceStore.record` from a worker thread per trace, as the engine
did (`asyncio.to_thread`, one request at a time: the lower bound, without the lock waits of
concurrent writers); `event writer` submits every row to a `Dispatcher` and waits for it.
Then the event writer again with traces arriving at a steady `--rate`, for a few values of
`events.flush_interval_s`. CPU is this process's (`time.process_time`), so other load on the
machine does not count."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import print_table, write_json
from sqlalchemy import event

from lockgate.config import EventsConfig, ModelSpec, Settings
from lockgate.engine.run import Engine
from lockgate.engine.turn import Call
from lockgate.observability.dispatch import Dispatcher
from lockgate.observability.events import TurnFinished
from lockgate.services import Services


def sample_row(services: Services) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []

    def keep(events: list[Any], _: Any) -> None:
        rows.extend(e.trace for e in events if isinstance(e, TurnFinished))

    catcher = Dispatcher(EventsConfig(flush_interval_s=0), keep)
    body = {"model": "mock", "messages": [{"role": "user", "content": "How many days? " * 8}]}

    async def turn() -> None:
        from lockgate.observability import dispatch

        saved, dispatch._instance = dispatch._instance, catcher  # this one turn's events
        try:
            await Engine(services).run_turn(Call("/v1/chat/completions", body))
        finally:
            dispatch._instance = saved

    asyncio.run(turn())
    assert catcher.flush(10) and rows
    return rows[0]


def fresh(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": uuid.uuid4().hex, "created_at": time.time()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=500, help="traces/s for the paced runs")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="lockgate-bench-writes-")) / "home"
    settings = Settings(
        home=home,
        models={"mock": ModelSpec(backend="mock")},  # type: ignore[dict-item]
        grounded={"model": "mock"},  # type: ignore[arg-type]
        pipeline=["call_model"],
        review={"enabled": False},  # type: ignore[arg-type]
        guardrails={"enabled": False},  # type: ignore[arg-type]
        cache={"enabled": False},  # type: ignore[arg-type]
    )
    services = Services(settings)
    row = sample_row(services)
    commits: list[int] = []
    event.listen(services.engine, "commit", lambda conn: commits.append(1))
    results: dict[str, dict[str, float]] = {}

    async def one_each(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            await asyncio.to_thread(services.traces.record, r)

    rows = [fresh(row) for _ in range(args.traces)]
    commits.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(one_each(rows))
    results["one per request"] = {
        "cpu_us": (time.process_time() - cpu) * 1e6 / args.traces,
        "wall_s": time.perf_counter() - wall,
        "commits": len(commits),
    }

    writer = Dispatcher(EventsConfig())
    events = [TurnFinished(r["id"], r["endpoint"], "ok", 200, r) for r in map(fresh, rows)]
    commits.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for e in events:
        writer.submit([e], services)
    assert writer.flush(120)
    results["event writer"] = {
        "cpu_us": (time.process_time() - cpu) * 1e6 / args.traces,
        "wall_s": time.perf_counter() - wall,
        "commits": len(commits),
    }
    # At a steady arrival rate a batch holds what arrives while the previous one is written
    # and while the writer lingers (`events.flush_interval_s`): the setting's trade-off.
    paced: dict[str, dict[str, float]] = {}
    for linger in (0.0, 0.005, 0.02, 0.05):
        writer = Dispatcher(EventsConfig(flush_interval_s=linger))
        events = [TurnFinished(r["id"], r["endpoint"], "ok", 200, r) for r in map(fresh, rows)]
        commits.clear()
        cpu, start = time.process_time(), time.perf_counter()
        for i, e in enumerate(events):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            writer.submit([e], services)
        assert writer.flush(120)
        paced[f"{linger * 1000:g} ms"] = {
            "cpu_us": (time.process_time() - cpu) * 1e6 / args.traces,
            "batch": args.traces / max(1, writer.batches),
            "commits": len(commits),
        }
    print_table(
        f"{args.traces} traces, one SQLite store, encryption on (CPU of this process)",
        ["path", "CPU µs/trace", "wall s", "commits"],
        [[k, v["cpu_us"], v["wall_s"], v["commits"]] for k, v in results.items()],
    )
    print_table(
        f"the event writer at {args.rate:g} traces/s, by flush_interval_s",
        ["linger", "CPU µs/trace", "mean batch", "commits"],
        [[k, v["cpu_us"], v["batch"], v["commits"]] for k, v in paced.items()],
    )
    write_json(
        args.json, {"traces": args.traces, "results": results, "rate": args.rate, "paced": paced}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
