"""Gateway overhead: the same load sent straight to an upstream and through the gateway, by wrk.

    .venv/bin/python bench/bench_gateway.py [--duration 8] [--concurrency 8,64]
        [--latencies 0,50] [--modes json,stream] [--warmup 3] [--first-warmup 20]
        [--json out.json]

The method of bench_vs_litellm.py (the helpers are shared, in wrkload.py). Two servers run
in their own processes on loopback:

* upstream: `bench/stdlib_upstream.py` (plain stdlib asyncio, far cheaper than what it
  measures); a request to `/delay/N/...` is answered after N ms, as JSON or, when the body
  asks for `"stream": true`, as server-sent events;
* gateway: `create_app` (what `lockgate serve` runs) over a temporary LOCKGATE_HOME whose
  registry maps `delay-N` to that upstream (backend `openai`, base URL `.../delay/N/v1`), with
  `preload_models=False`, access logging off, anonymous access. Every request goes through the
  real default pipeline (rate limit, guardrails, response cache lookup/store, call_model, ...),
  including the trace written to SQLite. The default rate limit (600 rpm per address) would
  answer wrk with 429s: the gateway runs with the rule raised to 10^8 rpm (the limiter still
  runs) unless LOCKGATE_LIMITS__RULES is set.

wrk (`--latency`, one thread, `wrk_unique.lua`: every user message unique, a fresh label per
run, so the cache always misses; `--no-cache` turns the cache off instead) loads each server
for `--duration` seconds after `--warmup` unmeasured seconds, for each connection count,
upstream latency and mode (`json`: non-streaming; `stream`: SSE, read to the end; wrk sees no
time to first byte). The gateway is warmed `--first-warmup` seconds once first (a cold gateway
loads its scanner models in its first ~20 s). Added latency is the gateway's percentile minus
the direct one. CPU milliseconds per request used by each server's process tree (from /proc)
and by wrk show the cost independently of machine contention. Errors are what wrk sees:
socket errors, timeouts (`--timeout`, 2 s) and statuses >= 400; a 200 whose answer a
guardrail refused is not one.

`--serve upstream|gateway --port P [--home DIR --upstream URL --latencies 0]` runs one server
in the foreground (the gateway as described; the upstream as the older Starlette fake,
`upstream_app`, which bench_security.py and bench_stages.py use too). The gateway runs with
the uvicorn options `lockgate serve` uses (`uvicorn_limits`: httptools, uvloop, the header
deadline, connection limits).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import wrkload
from _common import BENCH, ROOT, print_table, summary_ms, temp_home, write_json

try:
    from tests.support.server import free_port
except ModuleNotFoundError:  # pragma: no cover
    sys.path.insert(0, str(ROOT))
    from tests.support.server import free_port

LIMIT_RULES = '[{"per":["key"],"rpm":100000000}]'


# ---- servers (run in child processes) --------------------------------------------------


def upstream_app() -> Any:
    """The Starlette fake upstream (tests/support/fake_upstream.py) that waits as long as the
    model's name says (`delay-50`: 50 ms) or the path does (`/delay/50/v1/...`)."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.support import fake_upstream

    app = fake_upstream.create_fake_upstream()
    app.state.calls = collections.deque(maxlen=100)  # the fake keeps every body otherwise

    async def delayed_chat(request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        ms = request.path_params.get("ms")
        if ms is None and model.startswith("delay-"):
            ms = model.split("-", 1)[1]
        if ms:
            await asyncio.sleep(float(ms) / 1000)
        # fake_upstream.chat reads the body again; Starlette caches it on the request.
        return await fake_upstream.chat(request)

    app.router.routes.insert(0, Route("/v1/chat/completions", delayed_chat, methods=["POST"]))
    app.router.routes.insert(
        0, Route("/delay/{ms:int}/v1/chat/completions", delayed_chat, methods=["POST"])
    )
    return app


def base_url_for(upstream: str, ms: int) -> str:
    # The stdlib upstream takes the delay from the path, not by parsing the body.
    return f"{upstream}/delay/{ms}/v1" if ms else f"{upstream}/v1"


def gateway_app(home: Path, upstream: str, latencies: list[int], cache: bool = True) -> Any:
    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.services import Services

    models = dict(Settings(home=home).models)
    for ms in latencies:
        models[f"delay-{ms}"] = ModelSpec(
            backend="openai",
            base_url=base_url_for(upstream, ms),
            context_window=8192,
            read_timeout_s=60,
        )
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


def spawn(
    kind: str, port: int, extra: list[str], log: Path, script: Path | None = None
) -> subprocess.Popen[bytes]:
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


# ---- load (wrk) --------------------------------------------------------------------------


def wrk_env(ms: int, mode: str, direct: bool) -> dict[str, str]:
    env = {"WRK_MODEL": f"delay-{ms}", "WRK_STREAM": "1" if mode == "stream" else "0"}
    if direct:
        env["WRK_PATH"] = f"/delay/{ms}/v1/chat/completions"
    return env


def measure(
    url: str, conns: int, env: dict[str, str], pids: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    """Warm up (connections opened, code paths hot), then one measured wrk run."""
    if args.warmup > 0:
        wrkload.run_wrk(
            url, conns, args.warmup, timeout_s=args.timeout, env={**env, "WRK_SALT": _salt()}
        )
    before = wrkload.cpu_snapshot(pids)
    res, wrk_cpu = wrkload.run_wrk(
        url, conns, args.duration, timeout_s=args.timeout, env={**env, "WRK_SALT": _salt()}
    )
    cpu = wrkload.cpu_ms_per_request(before, wrkload.cpu_snapshot(pids), res.requests)
    cpu["client"] = round(1000 * wrk_cpu / res.requests, 3) if res.requests else float("nan")
    lat = res.latency_ms
    return {
        "requests": res.requests,
        "concurrency": conns,
        "errors": res.non_2xx + res.socket_errors + res.timeouts,
        "seconds": res.seconds,
        "rps": res.rps,
        "latency": {
            "n": res.requests,
            **{f"{k}_ms": lat[k] for k in ("p50", "p75", "p90", "p99", "max") if k in lat},
            "mean_ms": lat.get("avg", float("nan")),
        },
        "cpu_ms_per_request": cpu,
        "wrk": res.to_dict(),
    }


def _salt() -> str:
    return uuid.uuid4().hex[:8]


def run(args: argparse.Namespace) -> dict[str, Any]:
    concurrencies = _ints(args.concurrency)
    latencies = _ints(args.latencies)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    out: dict[str, Any] = {
        "params": {
            "method": "wrk",
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "first_warmup_s": args.first_warmup,
            "wrk_timeout_s": args.timeout,
            "concurrency": concurrencies,
            "latencies_ms": latencies,
            "modes": modes,
            "gateway_cache": not args.no_cache,
        },
        "scenarios": [],
    }
    with temp_home() as tmp:
        up_port, gw_port = free_port(), free_port()
        up_cmd = [sys.executable, str(BENCH / "stdlib_upstream.py"), str(up_port)]
        upstream = wrkload.start(up_cmd, tmp / "upstream.log")
        up_base = f"http://127.0.0.1:{up_port}"
        gw_base = f"http://127.0.0.1:{gw_port}"
        try:
            wrkload.wait_port(up_port, upstream, tmp / "upstream.log")
            os.environ.setdefault("LOCKGATE_LIMITS__RULES", LIMIT_RULES)  # for the child
            gateway = spawn(
                "gateway",
                gw_port,
                [
                    "--home", str(tmp / "home"),
                    "--upstream", up_base,
                    "--latencies", ",".join(map(str, latencies)),
                    *(["--no-cache"] if args.no_cache else []),
                    *(["--profile", str(Path(args.profile_gateway).resolve())]
                      if args.profile_gateway else []),
                ],
                tmp / "gateway.log",
            )  # fmt: skip
        except Exception:
            wrkload.stop(upstream)
            raise
        pids = {"upstream": upstream.pid, "gateway": gateway.pid}
        try:
            if args.first_warmup > 0:
                print(f"warming the gateway up for {args.first_warmup:g} s ...", flush=True)
                wrkload.run_wrk(
                    gw_base,
                    8,
                    args.first_warmup,
                    timeout_s=args.timeout,
                    env={**wrk_env(latencies[0], "json", False), "WRK_SALT": _salt()},
                )
            for conc in concurrencies:
                for ms in latencies:
                    for mode in modes:
                        label = f"{conc} connections, upstream latency {ms} ms, {mode}"
                        print(f"{label}: direct ...", flush=True)
                        direct = measure(up_base, conc, wrk_env(ms, mode, True), pids, args)
                        print(f"{label}: gateway ...", flush=True)
                        via = measure(gw_base, conc, wrk_env(ms, mode, False), pids, args)
                        out["scenarios"].append(
                            {
                                "concurrency": conc,
                                "latency_ms": ms,
                                "mode": mode,
                                "direct": direct,
                                "gateway": via,
                                "added_ms": added(direct, via),
                            }
                        )
                        report_one(out["scenarios"][-1])
        finally:
            gateway.terminate()  # a profile is written on the way out
            try:
                gateway.wait(timeout=20)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait(timeout=5)
            wrkload.stop(upstream)
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
    return {
        "p50_ms": round(g["p50_ms"] - d["p50_ms"], 2),
        "p99_ms": round(g["p99_ms"] - d["p99_ms"], 2),
    }


def report_one(s: dict[str, Any]) -> None:
    rows = []
    for path in ("direct", "gateway"):
        r = s[path]
        cpu = r["cpu_ms_per_request"]
        rows.append(
            [path, r["requests"], r["errors"], r["rps"], r["latency"]["p50_ms"],
             r["latency"]["p99_ms"], cpu["upstream"], cpu["gateway"], cpu["client"]]
        )  # fmt: skip
    print_table(
        f"{s['concurrency']} connections, upstream latency {s['latency_ms']} ms, {s['mode']}",
        ["path", "requests", "errors", "req/s", "p50 ms", "p99 ms", "upstream cpu ms",
         "gateway cpu ms", "wrk cpu ms"],
        rows,
    )  # fmt: skip
    print(
        f"added by the gateway: p50 {s['added_ms']['p50_ms']:+.1f} ms, "
        f"p99 {s['added_ms']['p99_ms']:+.1f} ms",
        flush=True,
    )


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per run")
    ap.add_argument(
        "--first-warmup", type=float, default=20.0, help="unmeasured seconds once, at the start"
    )
    ap.add_argument("--timeout", type=float, default=2.0, help="wrk's request timeout (s)")
    ap.add_argument(
        "--concurrency", default="8,64", help="comma-separated wrk connections (default 8,64)"
    )
    ap.add_argument("--latencies", default="0,50", help="upstream latencies in ms")
    ap.add_argument("--modes", default="json,stream", help="json and/or stream")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument(
        "--no-cache",
        action="store_true",
        help="turn the gateway's response cache off (default: product default, on)",
    )
    ap.add_argument(
        "--profile-gateway",
        default=None,
        metavar="PATH",
        help="run the gateway under cProfile and write the top functions here",
    )
    # internal: child-process server modes
    ap.add_argument("--serve", choices=["upstream", "gateway"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve_child(args)
    if set(m.strip() for m in args.modes.split(",") if m.strip()) - {"json", "stream"}:
        ap.error("--modes takes json and/or stream")
    if not Path(wrkload.WRK).exists():
        ap.error(f"{wrkload.WRK} is missing (apt-get install wrk)")
    result = run(args)
    rows = [
        [f"c{s['concurrency']} {s['latency_ms']} ms {s['mode']}", s["direct"]["rps"],
         s["gateway"]["rps"], s["gateway"]["errors"], s["direct"]["latency"]["p50_ms"],
         s["gateway"]["latency"]["p50_ms"], s["added_ms"]["p50_ms"],
         s["direct"]["latency"]["p99_ms"], s["gateway"]["latency"]["p99_ms"],
         s["added_ms"]["p99_ms"], s["gateway"]["cpu_ms_per_request"]["gateway"]]
        for s in result["scenarios"]
    ]  # fmt: skip
    print_table(
        f"Summary (wrk, {args.duration:g} s per run)",
        ["scenario", "direct rps", "gateway rps", "gw errors", "direct p50", "gateway p50",
         "added p50", "direct p99", "gateway p99", "added p99", "gw cpu ms/req"],
        rows,
    )  # fmt: skip
    stages = result.get("gateway_stages", {})
    if stages:
        print_table(
            "Gateway stage timings over every request it served (from its traces, ms)",
            ["stage", "n", "p50", "p95", "p99", "mean"],
            [[k, v["n"], v["p50_ms"], v["p95_ms"], v["p99_ms"], v["mean_ms"]]
             for k, v in sorted(stages.items(), key=lambda kv: -kv[1]["mean_ms"])],
        )  # fmt: skip
    write_json(args.json, {"benchmark": "gateway", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
