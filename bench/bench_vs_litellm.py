"""Lockgate and LiteLLM's proxy head to head, under wrk, in front of the same fake upstream:

    .venv/bin/python bench/bench_vs_litellm.py [--processes 1,2] [--conns 8,64] [--duration 8]
        [--delay-ms 50] [--warmup 3] [--first-warmup 20] [--json out.json]

* upstream: `bench/stdlib_upstream.py --delay-ms 50` (plain stdlib asyncio, answers every
  chat completion after a fixed 50 ms, a model's think time). Loaded directly it is the
  limit: connections / delay requests per second.
* LiteLLM: `litellm --config ... --num_workers N` (its proxy as shipped: uvicorn, access log
  on), installed into a throw-away virtualenv under the user's cache directory
  (`~/.cache/lockgate-bench/litellm-VERSION`, reused when already there; never a project
  dependency). One model_list entry maps `delay-50` to the upstream as an OpenAI-compatible
  model. No master key (started with `dangerously_permit_weak_or_unset_master_key`, so no auth,
  as Lockgate's anonymous mode below), no database (so no spend logs, keys or budgets), no
  cache, no callbacks; the router, request parsing/validation and cost calculation run as they
  do by default. Offline: `LITELLM_LOCAL_MODEL_COST_MAP=True` (its bundled price list instead
  of a download at start-up), telemetry off.
* Lockgate: `lockgate serve` (its access log on too) over a fresh home, `--workers N` for N > 1
  when this checkout's `serve` has the option (else those rows are skipped, loudly), the
  model `delay-50` registered as an `openai` backend on the upstream, anonymous access, the
  rate limit raised out of the way (100M rpm: the limiter still runs in the default
  pipeline). Two pipelines:
  - pass-through: `pipeline: [call_model]` (what `[validate, call_model]` is today:
    `validate` is no longer a stage, a request is parsed and validated before any stage);
  - default: the embedded default pipeline (rate limit, guardrails in and out, response cache
    lookup and store, release, routing, ..., call_model), every request traced.

Equal process counts: each row of LiteLLM and Lockgate runs N server processes. wrk (one
thread, `--latency`, 2 s timeout) posts chat completions with a unique user message each
(`bench/wrk_unique.lua`, a fresh label per run, so the cache always misses), first `--warmup`
seconds unmeasured, then `--duration` seconds measured, at each connection count. Each server
is warmed `--first-warmup` seconds once after it reports ready (models and code paths hot).

CPU ms per request: the CPU (utime + stime from /proc) used by the server's whole process
tree (supervisor and workers) during the measured run, divided by the requests wrk completed;
the upstream's and wrk's own are shown too. The box may be shared: the load average is
printed and recorded, and CPU per request is the number that least depends on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wrkload
import yaml
from _common import ROOT, print_table, write_json
from wrkload import WrkResult

LITELLM_VERSION = "1.108.7"  # 1.108.8+ need extras the package index here does not have
MODEL = "delay-50"
# LiteLLM reads these at import and start-up: nothing may leave the machine.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # its bundled price list, no download
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "HF_HUB_OFFLINE": "1",  # should a tokenizer be wanted, none is fetched
}
LIMIT_RULES = [{"per": ["key"], "rpm": 100_000_000}]


# ---- LiteLLM's throw-away virtualenv -------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lockgate-bench"


def litellm_venv(version: str, python: str) -> Path:
    """A virtualenv with `litellm[proxy]==version`, made once and reused."""
    venv = cache_dir() / f"litellm-{version}"
    marker = venv / ".installed"
    if marker.exists():
        return venv
    print(f"installing litellm[proxy]=={version} into {venv} (once) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={version}"], check=True
    )
    marker.write_text(version + "\n")
    return venv


def litellm_config(path: Path, upstream: str) -> Path:
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": upstream + "/v1",
                    "api_key": "fake-key",
                },
            }
        ],
        "litellm_settings": {
            "drop_params": True,
            "cache": False,
            "telemetry": False,
            "set_verbose": False,
        },
        "general_settings": {
            "disable_spend_logs": True,
            "dangerously_permit_weak_or_unset_master_key": True,
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- Lockgate ------------------------------------------------------------------------------


def lockgate_cmd() -> list[str]:
    return [sys.executable, "-m", "lockgate.cli"]


def lockgate_env() -> dict[str, str]:
    # This checkout's code first, also in the server processes (the venv's editable install
    # may point at another one).
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path.rstrip(os.pathsep)}


def serve_has_workers() -> bool:
    out = subprocess.run(
        [*lockgate_cmd(), "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, **lockgate_env()},
        timeout=120,
        cwd=ROOT,
    )
    return "--workers" in out.stdout


def lockgate_config(path: Path, home: Path, upstream: str, pipeline: list[str] | None) -> Path:
    config: dict[str, Any] = {
        "home": str(home),
        "auth": {"allow_anonymous": True},
        "limits": {"rules": LIMIT_RULES},
        "models": {
            MODEL: {
                "backend": "openai",
                "base_url": upstream + "/v1",
                "context_window": 8192,
                "read_timeout_s": 60,
            }
        },
    }
    if pipeline is not None:
        config["pipeline"] = pipeline
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- targets -------------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    kind: str  # upstream, litellm, lockgate
    processes: int
    cmd: list[str]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0


def start_target(t: Target, logs: Path, timeout: float) -> subprocess.Popen[bytes]:
    log = logs / f"{t.label.replace(' ', '_').replace('/', '_')}-{t.processes}.log"
    proc = wrkload.start(t.cmd, log, env=t.env)
    took = wrkload.wait_http(
        f"http://127.0.0.1:{t.port}{t.ready_path}",
        proc,
        log,
        timeout,
        ready=lambda status: status == 200,
    )
    print(
        f"  {t.label}, {t.processes} process(es): ready after {took:.1f} s "
        f"({len(wrkload.tree_pids(proc.pid))} processes in its tree)",
        flush=True,
    )
    return proc


def measure(
    t: Target,
    proc: subprocess.Popen[bytes],
    upstream: subprocess.Popen[bytes],
    conns: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{t.port}"
    env = {"WRK_MODEL": MODEL}
    if args.warmup > 0:
        wrkload.run_wrk(
            url,
            conns,
            args.warmup,
            timeout_s=args.timeout,
            env={**env, "WRK_SALT": uuid.uuid4().hex[:8]},
        )
    roots = {"server": proc.pid, "upstream": upstream.pid}
    if proc.pid == upstream.pid:
        roots = {"server": proc.pid}
    load = wrkload.load_average()
    before = wrkload.cpu_snapshot(roots)
    res, wrk_cpu = wrkload.run_wrk(
        url,
        conns,
        args.duration,
        timeout_s=args.timeout,
        env={**env, "WRK_SALT": uuid.uuid4().hex[:8]},
    )
    after = wrkload.cpu_snapshot(roots)
    cpu = wrkload.cpu_ms_per_request(before, after, res.requests)
    cpu["wrk"] = round(1000 * wrk_cpu / res.requests, 3) if res.requests else float("nan")
    cpu.setdefault("upstream", cpu["server"])
    row = {
        "target": t.label,
        "kind": t.kind,
        "processes": t.processes,
        "conns": conns,
        "server_processes_in_tree": len(wrkload.tree_pids(proc.pid)),
        "loadavg_1m_before": load[0],
        "wrk": res.to_dict(),
        "cpu_ms_per_request": cpu,
    }
    print_row(row, res)
    return row


def print_row(row: dict[str, Any], r: WrkResult) -> None:
    p50, p99 = (wrkload.fmt_ms(r.latency_ms.get(k)) for k in ("p50", "p99"))
    print(
        f"    {row['conns']:>3} conns: {r.rps:8.1f} req/s, p50 {p50}, p99 {p99}, "
        f"errors {wrkload.errors_cell(r)}, "
        f"non-2xx {r.non_2xx}, server CPU {row['cpu_ms_per_request']['server']:.2f} ms/req "
        f"(load {row['loadavg_1m_before']})",
        flush=True,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    processes = [int(p) for p in args.processes.split(",") if p.strip()]
    conns = [int(c) for c in args.conns.split(",") if c.strip()]
    out: dict[str, Any] = {
        "params": {
            "processes": processes,
            "conns": conns,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "first_warmup_s": args.first_warmup,
            "upstream_delay_ms": args.delay_ms,
            "wrk_timeout_s": args.timeout,
            "wrk_threads": 1,
            "litellm_version": args.litellm_version,
        },
        "rows": [],
        "skipped": [],
    }
    targets = [t for t in args.targets.split(",") if t.strip()]
    venv = litellm_venv(args.litellm_version, args.python) if "litellm" in targets else None
    workers = (
        serve_has_workers() if "lockgate" in targets or "lockgate-default" in targets else False
    )
    out["lockgate_serve_has_workers"] = workers
    if not workers and any(p > 1 for p in processes):
        msg = (
            "!!! `lockgate serve` has no --workers option in this checkout: the Lockgate rows "
            "with more than one process are SKIPPED (LiteLLM's are still measured) !!!"
        )
        print("\n" + "!" * len(msg) + "\n" + msg + "\n" + "!" * len(msg) + "\n", flush=True)
        out["skipped"].append(msg)
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-vs-litellm-"))
    logs = tmp / "logs"
    logs.mkdir()
    print(f"logs in {logs}", flush=True)
    up_port = wrkload.free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    up = Target(
        "upstream direct (the limit)",
        "upstream",
        1,
        [
            sys.executable,
            str(ROOT / "bench" / "stdlib_upstream.py"),
            str(up_port),
            "--delay-ms",
            f"{args.delay_ms:g}",
        ],
        "/",
        port=up_port,
    )
    upstream = wrkload.start(up.cmd, logs / "upstream.log")
    try:
        wrkload.wait_port(up_port, upstream, logs / "upstream.log")
        print(f"{up.label}:", flush=True)
        for c in conns:
            out["rows"].append(measure(up, upstream, upstream, c, args))
        for n in processes:
            for name in targets:
                t = make_target(name, n, tmp, upstream_url, venv, workers, args.litellm_version)
                if t is None:
                    continue
                print(f"{t.label}, {n} process(es):", flush=True)
                proc = start_target(t, logs, args.start_timeout)
                try:
                    if args.first_warmup > 0:
                        wrkload.run_wrk(
                            f"http://127.0.0.1:{t.port}",
                            8,
                            args.first_warmup,
                            timeout_s=args.timeout,
                            env={"WRK_MODEL": MODEL, "WRK_SALT": uuid.uuid4().hex[:8]},
                        )
                    for c in conns:
                        out["rows"].append(measure(t, proc, upstream, c, args))
                finally:
                    wrkload.stop(proc)
    finally:
        wrkload.stop(upstream)
    out["logs"] = str(logs)
    return out


def make_target(
    name: str,
    n: int,
    tmp: Path,
    upstream_url: str,
    venv: Path | None,
    workers: bool,
    litellm_version: str,
) -> Target | None:
    port = wrkload.free_port()
    if name == "litellm":
        assert venv is not None
        cfg = litellm_config(tmp / f"litellm-{n}.yaml", upstream_url)
        cmd = [str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--num_workers", str(n)]
        if n > 1:
            # uvicorn's supervisor kills a worker that has not answered its ping within 5 s;
            # on a loaded 2-core box LiteLLM's import alone takes longer, and the workers were
            # killed and restarted for minutes without ever serving.
            cmd += ["--timeout_worker_healthcheck", "60"]
        return Target(
            f"LiteLLM proxy {litellm_version}",
            "litellm",
            n,
            cmd,
            "/health/liveliness",
            env=dict(LITELLM_ENV),
            port=port,
        )
    if name in ("lockgate", "lockgate-default"):
        if n > 1 and not workers:
            return None
        passthrough = name == "lockgate"
        label = "Lockgate pass-through [call_model]" if passthrough else "Lockgate default pipeline"
        cfg = lockgate_config(
            tmp / f"{name}-{n}.yaml",
            tmp / f"home-{name}-{n}",
            upstream_url,
            ["call_model"] if passthrough else None,
        )
        cmd = [*lockgate_cmd(), "--config", str(cfg), "serve", "--port", str(port)]
        if n > 1:
            cmd += ["--workers", str(n)]
        return Target(label, "lockgate", n, cmd, "/readyz", env=lockgate_env(), port=port)
    raise SystemExit(f"unknown target {name!r} (litellm, lockgate, lockgate-default)")


def table(result: dict[str, Any]) -> None:
    rows = []
    for r in result["rows"]:
        w = WrkResult(**{k: v for k, v in r["wrk"].items() if k != "socket_errors"})
        cpu = r["cpu_ms_per_request"]
        procs = "-" if r["kind"] == "upstream" else str(r["processes"])
        rows.append(
            [
                r["target"],
                procs,
                r["conns"],
                w.rps,
                wrkload.fmt_ms(w.latency_ms.get("p50")),
                wrkload.fmt_ms(w.latency_ms.get("p99")),
                wrkload.errors_cell(w),
                w.non_2xx,
                cpu["server"],
                cpu["upstream"] if r["kind"] != "upstream" else float("nan"),
                r["loadavg_1m_before"],
            ]
        )
    p = result["params"]
    print_table(
        f"wrk, {p['duration_s']:g} s per run, upstream answers after {p['upstream_delay_ms']:g} ms "
        "(CPU: ms per completed request, whole process tree)",
        [
            "target",
            "procs",
            "conns",
            "req/s",
            "p50",
            "p99",
            "errors/timeouts",
            "non-2xx",
            "server CPU ms",
            "upstream CPU ms",
            "load 1m",
        ],
        rows,
    )
    for msg in result["skipped"]:
        print(msg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", default="1,2", help="server process counts (default 1,2)")
    ap.add_argument("--conns", default="8,64", help="wrk connection counts (default 8,64)")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    ap.add_argument(
        "--warmup", type=float, default=3.0, help="unmeasured seconds before each run (default 3)"
    )
    ap.add_argument(
        "--first-warmup",
        type=float,
        default=20.0,
        help="unmeasured seconds at 8 connections once a server is ready (default 20)",
    )
    ap.add_argument(
        "--delay-ms", type=float, default=50.0, help="the upstream's answer delay (default 50)"
    )
    ap.add_argument("--timeout", type=float, default=2.0, help="wrk's request timeout (s)")
    ap.add_argument(
        "--targets",
        default="litellm,lockgate,lockgate-default",
        help="which gateways to run (default litellm,lockgate,lockgate-default)",
    )
    ap.add_argument("--litellm-version", default=LITELLM_VERSION)
    ap.add_argument(
        "--python",
        default="python3",
        help="interpreter that creates LiteLLM's virtualenv (default python3)",
    )
    ap.add_argument("--start-timeout", type=float, default=180.0)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    if not Path(wrkload.WRK).exists():
        print(f"bench_vs_litellm: {wrkload.WRK} is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, load average {wrkload.load_average()}", flush=True
    )
    result = run(args)
    table(result)
    write_json(args.json, {"benchmark": "vs_litellm", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
