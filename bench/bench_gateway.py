"""Gateway overhead: the same load sent straight to an upstream and through `lockgate serve`.

    .venv/bin/python bench/bench_gateway.py [--requests 1000] [--concurrency 1,32]
        [--latencies 0,50] [--modes json,stream] [--json out.json]

Two servers run in their own processes on loopback, each under uvicorn (so neither shares a
GIL with the load generator):

* upstream: tests/support/fake_upstream.py's app behind a thin wrapper that sleeps for the
  latency named by the model (`delay-50` waits 50 ms, then answers like `echo`);
* gateway: `create_app` (what `lockgate serve` runs) over a temporary LOCKGATE_HOME whose
  registry maps `delay-0` / `delay-50` to that upstream (backend `openai`), with
  `preload_models=False`. Every request goes through the real default pipeline (validate,
  guardrails, response cache lookup/store, call_model, ...), including the trace written to
  SQLite. Each request's user message is unique, so the cache always misses: this measures
  the pass-through path, not cache hits (`--no-cache` turns the cache off instead).

One async httpx client in this process drives both at the same concurrency for N requests of
the same chat body (after a warm-up on the same client), for each concurrency (1 shows the
per-request overhead without queueing; 32 the loaded case), upstream latency and mode (`json`:
non-streaming; `stream`: SSE read to the end, time to first content byte also recorded).
Added latency is the gateway's percentile minus the direct one. CPU seconds used by each
server process per request (from /proc) show the cost independently of machine contention.
Both servers run with access logging off; the gateway with the uvicorn options `lockgate serve`
uses (`uvicorn_limits`: httptools, uvloop, the header deadline, connection limits).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, print_table, summary_ms, temp_home, write_json

try:
    from tests.support.server import free_port
except ModuleNotFoundError:  # pragma: no cover
    sys.path.insert(0, str(ROOT))
    from tests.support.server import free_port

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---- servers (run in child processes) --------------------------------------------------


def upstream_app() -> Any:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.support import fake_upstream

    app = fake_upstream.create_fake_upstream()
    app.state.calls = collections.deque(maxlen=100)  # the fake keeps every body otherwise

    async def delayed_chat(request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        if model.startswith("delay-"):
            await asyncio.sleep(float(model.split("-", 1)[1]) / 1000)
        # fake_upstream.chat reads the body again; Starlette caches it on the request.
        return await fake_upstream.chat(request)

    app.router.routes.insert(0, Route("/v1/chat/completions", delayed_chat, methods=["POST"]))
    return app


def gateway_app(home: Path, upstream: str, latencies: list[int], cache: bool = True) -> Any:
    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.services import Services

    models = dict(Settings(home=home).models)
    for ms in latencies:
        models[f"delay-{ms}"] = ModelSpec(backend="openai", base_url=upstream + "/v1",
                                          context_window=8192, read_timeout_s=60)
    # The overhead measured here is the gateway's without authentication.
    extra: dict[str, Any] = {"auth": {"allow_anonymous": True}}
    if not cache:
        from lockgate.config import CacheConfig

        extra["cache"] = CacheConfig(enabled=False)
    settings = Settings(home=home, models=models, **extra)  # type: ignore[arg-type]
    return create_app(Services(settings), preload_models=False)


def serve_child(args: argparse.Namespace) -> int:
    import uvicorn

    options: dict[str, Any] = {}
    if args.serve == "upstream":
        app = upstream_app()
    else:
        from lockgate.cli.serve import uvicorn_limits

        app = gateway_app(Path(args.home), args.upstream, _ints(args.latencies),
                          cache=not args.no_cache)
        # What `lockgate serve` runs: its parser, event loop and connection limits.
        options = uvicorn_limits(app.state.services.settings.server)
    if not args.profile:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                    **options)
        return 0
    import cProfile
    import pstats
    import signal

    # uvicorn re-raises SIGTERM after a graceful shutdown; ignore it so the stats get written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    prof = cProfile.Profile()
    prof.enable()
    try:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                    **options)
    finally:
        prof.disable()
        with open(args.profile, "w") as fh:
            stats = pstats.Stats(prof, stream=fh).sort_stats("cumulative")
            stats.print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
    return 0


def spawn(kind: str, port: int, extra: list[str], log: Path,
          script: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `script --serve kind` (this file by default) and wait until it answers."""
    script = script or Path(__file__)
    cmd = [sys.executable, str(script.resolve()), "--serve", kind, "--port", str(port), *extra]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(base + "/healthz", timeout=2)  # any answer, even 404, means it is up
            return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"{kind} did not start")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# ---- load generator --------------------------------------------------------------------


_REQUEST_NO = itertools.count()


def body_for(ms: int, stream: bool) -> dict[str, Any]:
    """A chat body; the user message is made unique per request (see `fresh`)."""
    return {"model": f"delay-{ms}", "stream": stream, "max_tokens": 32,
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user",
                          "content": "How many days of annual leave do new employees get?"}]}


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    # The gateway caches responses (exact match, on by default): identical bodies would
    # measure cache hits, not the pass-through path. Every request asks something new.
    n = next(_REQUEST_NO)
    messages = [*body["messages"][:-1],
                {"role": "user", "content": f"{body['messages'][-1]['content']} [request #{n}]"}]
    return {**body, "messages": messages}


def _has_content(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[6:]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def _refused(event: dict[str, Any]) -> bool:
    # A gateway answer its guardrails blocked never reached the upstream: not a measurement.
    return bool((event.get("lockgate") or {}).get("refused"))


async def drive(client: httpx.AsyncClient, url: str, body: dict[str, Any], n: int,
                concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    ttfb: list[float] = []
    errors = 0
    next_i = 0
    stream = bool(body.get("stream"))

    async def one() -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            if stream:
                first = None
                refused = False
                async with client.stream("POST", url, json=fresh(body)) as resp:
                    async for line in resp.aiter_lines():
                        if first is None and _has_content(line):
                            first = time.perf_counter()
                        if '"lockgate"' in line and line.startswith("data: {"):
                            refused = refused or _refused(json.loads(line[6:]))
                    ok = resp.status_code == 200 and not refused
                ttfb.append((first or time.perf_counter()) - t0)
            else:
                resp = await client.post(url, json=fresh(body))
                data = resp.json()
                ok = resp.status_code == 200 and bool(data["choices"]) and not _refused(data)
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - t0)
        if not ok:
            errors += 1

    async def worker() -> None:
        nonlocal next_i
        while next_i < n:
            next_i += 1
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    out = {"requests": n, "concurrency": concurrency, "errors_or_refusals": errors,
           "seconds": round(wall, 3), "rps": round(n / wall, 1),
           "latency": summary_ms(latencies)}
    if ttfb:
        out["ttfb"] = summary_ms(ttfb)
    return out


def measure(url: str, body: dict[str, Any], n: int, conc: int, pids: dict[str, int]
            ) -> dict[str, Any]:
    """Warm up (connections opened, code paths hot), then measure on the same client."""

    async def go() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            await drive(client, url, body, max(20, conc * 3), conc)
            before = {k: cpu_seconds(p) for k, p in pids.items()}
            client_before = time.process_time()
            res = await drive(client, url, body, n, conc)
            cpu = {k: round(1000 * (cpu_seconds(p) - before[k]) / n, 3) for k, p in pids.items()}
            cpu["client"] = round(1000 * (time.process_time() - client_before) / n, 3)
            res["cpu_ms_per_request"] = cpu
            return res

    return asyncio.run(go())


def run(n: int, n_serial: int, concurrencies: list[int], latencies: list[int], modes: list[str],
        profile: str | None = None, no_cache: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"params": {"requests": n, "requests_at_concurrency_1": n_serial,
                                      "concurrency": concurrencies,
                                      "latencies_ms": latencies, "modes": modes,
                                      "gateway_cache": not no_cache},
                           "scenarios": []}
    with temp_home() as tmp:
        up_port, gw_port = free_port(), free_port()
        upstream = spawn("upstream", up_port, [], tmp / "upstream.log")
        up_base = f"http://127.0.0.1:{up_port}"
        try:
            gateway = spawn("gateway", gw_port,
                            ["--home", str(tmp / "home"), "--upstream", up_base,
                             "--latencies", ",".join(map(str, latencies)),
                             *(["--no-cache"] if no_cache else []),
                             *(["--profile", str(Path(profile).resolve())] if profile else [])],
                            tmp / "gateway.log")
        except Exception:
            upstream.terminate()
            raise
        pids = {"upstream": upstream.pid, "gateway": gateway.pid}
        try:
            for conc in concurrencies:
                count = n_serial if conc == 1 else n
                for ms in latencies:
                    for mode in modes:
                        body = body_for(ms, mode == "stream")
                        label = f"concurrency {conc}, upstream latency {ms} ms, {mode}"
                        print(f"{label}: direct ...", flush=True)
                        direct = measure(up_base + "/v1/chat/completions", body, count, conc,
                                         pids)
                        print(f"{label}: gateway ...", flush=True)
                        via = measure(f"http://127.0.0.1:{gw_port}/v1/chat/completions", body,
                                      count, conc, pids)
                        out["scenarios"].append({
                            "concurrency": conc, "latency_ms": ms, "mode": mode,
                            "direct": direct, "gateway": via, "added_ms": added(direct, via)})
                        report_one(out["scenarios"][-1])
        finally:
            for proc in (gateway, upstream):
                proc.terminate()
            for proc in (gateway, upstream):
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        out["gateway_stages"] = stage_breakdown(tmp / "home")
    return out


def stage_breakdown(home: Path) -> dict[str, dict[str, float]]:
    """Per-stage wall time inside the gateway, from the traces it wrote for every request."""
    import sqlite3

    db = home / "lockgate.db"
    if not db.exists():
        return {}
    per_stage: dict[str, list[float]] = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for (raw,) in conn.execute("SELECT stages FROM traces WHERE stages IS NOT NULL"):
            with contextlib.suppress(ValueError, TypeError):
                for st in json.loads(raw):
                    per_stage.setdefault(st["stage"], []).append(float(st["ms"]) / 1000)
    return {k: summary_ms(v) for k, v in per_stage.items()}


def added(direct: dict[str, Any], via: dict[str, Any]) -> dict[str, float]:
    d, g = direct["latency"], via["latency"]
    return {"p50_ms": round(g["p50_ms"] - d["p50_ms"], 2),
            "p99_ms": round(g["p99_ms"] - d["p99_ms"], 2)}


def report_one(s: dict[str, Any]) -> None:
    rows = []
    for path in ("direct", "gateway"):
        r = s[path]
        rows.append([path, r["requests"], r["errors_or_refusals"], r["rps"], r["latency"]["p50_ms"],
                     r["latency"]["p99_ms"], r.get("ttfb", {}).get("p50_ms", float("nan")),
                     r["cpu_ms_per_request"]["upstream"], r["cpu_ms_per_request"]["gateway"],
                     r["cpu_ms_per_request"]["client"]])
    print_table(
        f"concurrency {s['concurrency']}, upstream latency {s['latency_ms']} ms, {s['mode']}",
        ["path", "requests", "errors/refused", "req/s", "p50 ms", "p99 ms", "TTFB p50",
         "upstream cpu ms", "gateway cpu ms", "client cpu ms"], rows)
    print(f"added by the gateway: p50 {s['added_ms']['p50_ms']:+.1f} ms, "
          f"p99 {s['added_ms']['p99_ms']:+.1f} ms", flush=True)


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--serial-requests", type=int, default=200,
                    help="requests per run at concurrency 1 (default 200)")
    ap.add_argument("--concurrency", default="1,32",
                    help="comma-separated client concurrencies (default 1,32)")
    ap.add_argument("--latencies", default="0,50", help="upstream latencies in ms")
    ap.add_argument("--modes", default="json,stream", help="json and/or stream")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument("--no-cache", action="store_true",
                    help="turn the gateway's response cache off (default: product default, on)")
    ap.add_argument("--profile-gateway", default=None, metavar="PATH",
                    help="run the gateway under cProfile and write the top functions here")
    # internal: child-process server modes
    ap.add_argument("--serve", choices=["upstream", "gateway"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve_child(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if set(modes) - {"json", "stream"}:
        ap.error("--modes takes json and/or stream")
    result = run(args.requests, args.serial_requests, _ints(args.concurrency),
                 _ints(args.latencies), modes, args.profile_gateway, args.no_cache)
    rows = [[f"c{s['concurrency']} {s['latency_ms']} ms {s['mode']}", s["direct"]["rps"],
             s["gateway"]["rps"],
             s["direct"]["latency"]["p50_ms"], s["gateway"]["latency"]["p50_ms"],
             s["added_ms"]["p50_ms"], s["direct"]["latency"]["p99_ms"],
             s["gateway"]["latency"]["p99_ms"], s["added_ms"]["p99_ms"],
             s["gateway"]["cpu_ms_per_request"]["gateway"]] for s in result["scenarios"]]
    print_table(f"Summary ({args.requests} requests per run; {args.serial_requests} at "
                "concurrency 1)",
                ["scenario", "direct rps", "gateway rps", "direct p50", "gateway p50",
                 "added p50", "direct p99", "gateway p99", "added p99", "gw cpu ms/req"], rows)
    stages = result.get("gateway_stages", {})
    if stages:
        print_table("Gateway stage timings over every request it served (from its traces, ms)",
                    ["stage", "n", "p50", "p95", "p99", "mean"],
                    [[k, v["n"], v["p50_ms"], v["p95_ms"], v["p99_ms"], v["mean_ms"]]
                     for k, v in sorted(stages.items(), key=lambda kv: -kv[1]["mean_ms"])])
    write_json(args.json, {"benchmark": "gateway", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
