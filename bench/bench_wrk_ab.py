"""Gateways side by side under wrk: CPU-ms per request and req/s, alternating, in one run.

    .venv/bin/python bench/bench_wrk_ab.py --variant base,tree=/path/to/main,loop=asyncio \\
        --variant new [--conns 8,64] [--delays 0,50] [--seconds 8] [--rounds 2] [--json out]

Each variant is one gateway process (`NAME[,tree=SRC_ROOT][,client=C][,loop=L][,http=H]`):
the Lockgate of `tree` (default: this checkout) over a temporary home whose registry maps
`delay-0` and `delay-50` (one model per `--delays` entry) to a `bench/stdlib_upstream.py`
process that answers after that many milliseconds. The gateway runs the pipeline named by
`--pipeline` (default pass-through: `call_model` alone), anonymous, with the rate limit
raised out of the way, under uvicorn with the tree's own `lockgate serve` options
(`uvicorn_limits`), less access logging; `loop` (uvloop|asyncio) and `http` (httptools|h11)
set `server.loop` / `server.http` (a tree from before those settings runs h11, and uvicorn's
"auto" loop: say `loop=asyncio` to reproduce it as it shipped, without uvloop installed).

`client` swaps the OpenAI-compatible backend's HTTP client for one of the prototypes below
(the complete(), non-streaming path that wrk drives): the measurement the upstream client was
chosen by. `default` (the default) is the tree's own backend.

wrk (one thread, unique bodies so no cache can hit) runs each variant in turn for every
(delay, connections) pair, `--rounds` times, the order reversed every other round; the CPU
time of the gateway process (utime + stime from /proc) over the requests wrk completed is the
figure that holds up on a shared box.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = '{"model":"MODEL","max_tokens":16,"messages":[{"role":"user","content":' ..
    '"How many days of annual leave do new employees get? [request ' .. n .. ']"}]}'
  return wrk.format(nil, "/v1/chat/completions", nil, body)
end
"""


# ---- prototype upstream clients (child process only) ------------------------------------


def _prototype(name: str) -> type:
    """An OpenAICompatModel whose complete() goes through client `name`."""
    import json as stdjson

    from lockgate.models import openai_compat as oc
    from lockgate.models.base import ChatResult, UpstreamError, Usage

    base: Any = oc.OpenAICompatModel

    def headers_of(spec: Any) -> dict[str, str]:
        key = oc.api_key(spec.api_key_env)
        return {
            "content-type": "application/json",
            **({"authorization": f"Bearer {key}"} if key else {}),
        }

    def result(data: dict[str, Any]) -> Any:
        choice = data["choices"][0]
        u = data.get("usage") or {}
        return ChatResult(
            choice["message"].get("content") or "",
            choice.get("finish_reason") or "stop",
            Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)),
        )

    if name.startswith("httpx-") or name in ("httpx2", "httpx-aiohttp"):
        import httpx

        class HttpxVariant(base):  # type: ignore[misc, valid-type]
            def __init__(self, model: str, spec: Any) -> None:
                super().__init__(model, spec)
                kw: dict[str, Any] = {
                    "base_url": spec.base_url,
                    "headers": headers_of(spec),
                    "timeout": httpx.Timeout(spec.read_timeout_s, connect=spec.connect_timeout_s),
                }
                if name == "httpx-64":  # the pool as large as the concurrency, no larger
                    kw["limits"] = httpx.Limits(max_connections=64, max_keepalive_connections=64)
                elif name == "httpx-16":  # few kept alive, no cap on connections
                    kw["limits"] = httpx.Limits(max_connections=None, max_keepalive_connections=16)
                elif name == "httpx-aiohttp":
                    from httpx_aiohttp import AiohttpTransport

                    kw["transport"] = AiohttpTransport(
                        limits=httpx.Limits(max_connections=128, keepalive_expiry=30)
                    )
                if name == "httpx2":
                    import httpx2

                    kw["limits"] = httpx2.Limits(max_connections=128, max_keepalive_connections=128)
                    kw["timeout"] = httpx2.Timeout(
                        spec.read_timeout_s, connect=spec.connect_timeout_s
                    )
                    self._client = httpx2.AsyncClient(**kw)
                else:
                    self._client = httpx.AsyncClient(**kw)

        return HttpxVariant

    if name in ("aiohttp", "aiohttp-lean"):
        import aiohttp

        class AiohttpVariant(base):  # type: ignore[misc, valid-type]
            def __init__(self, model: str, spec: Any) -> None:
                super().__init__(model, spec)
                self._headers = headers_of(spec)
                self._url = spec.base_url.rstrip("/") + "/chat/completions"
                self._timeout = aiohttp.ClientTimeout(
                    sock_connect=spec.connect_timeout_s, sock_read=spec.read_timeout_s
                )
                self._session: aiohttp.ClientSession | None = None

            async def complete(self, request: Any) -> Any:
                if self._session is None:
                    lean: dict[str, Any] = {}
                    if name == "aiohttp-lean":  # no cookie jar, no default headers to add
                        lean = {
                            "cookie_jar": aiohttp.DummyCookieJar(),
                            "skip_auto_headers": ("User-Agent",),
                            "auto_decompress": False,
                        }
                    self._session = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=128, keepalive_timeout=30),
                        timeout=self._timeout,
                        headers=self._headers,
                        **lean,
                    )
                body = stdjson.dumps(self._body(request, False)).encode()
                try:
                    async with self._session.post(self._url, data=body) as resp:
                        raw = await resp.read()
                        status = resp.status
                except aiohttp.ClientError as exc:
                    raise UpstreamError("unreachable", retryable=True) from exc
                if status >= 400:
                    raise UpstreamError(f"returned {status}", upstream_status=status)
                return result(stdjson.loads(raw))

        return AiohttpVariant

    if name == "pyreqwest":
        from datetime import timedelta

        from pyreqwest.client import ClientBuilder

        class ReqwestVariant(base):  # type: ignore[misc, valid-type]
            def __init__(self, model: str, spec: Any) -> None:
                super().__init__(model, spec)
                self._headers = headers_of(spec)
                self._url = spec.base_url.rstrip("/") + "/chat/completions"
                self._spec = spec
                self._rq: Any = None

            async def complete(self, request: Any) -> Any:
                if self._rq is None:
                    self._rq = (
                        ClientBuilder()
                        .connect_timeout(timedelta(seconds=self._spec.connect_timeout_s))
                        .read_timeout(timedelta(seconds=self._spec.read_timeout_s))
                        .pool_max_idle_per_host(128)
                        .default_headers(self._headers)
                        .build()
                    )
                body = stdjson.dumps(self._body(request, False)).encode()
                try:
                    resp = await self._rq.post(self._url).body_bytes(body).build().send()
                    raw = await resp.bytes()
                except Exception as exc:
                    raise UpstreamError("unreachable", retryable=True) from exc
                if resp.status >= 400:
                    raise UpstreamError(f"returned {resp.status}", upstream_status=resp.status)
                return result(stdjson.loads(bytes(raw)))

        return ReqwestVariant

    raise SystemExit(f"unknown client {name!r}")


def serve_child(args: argparse.Namespace) -> int:
    import uvicorn

    from lockgate.cli.serve import uvicorn_limits
    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.services import Services

    if args.client != "default":
        from lockgate.models import openai_compat

        openai_compat.OpenAICompatModel = _prototype(args.client)  # type: ignore[misc]
    home = Path(args.home)
    models = dict(Settings(home=home).models)
    for entry in args.upstreams.split(","):
        ms, url = entry.split("=", 1)
        models[f"delay-{ms}"] = ModelSpec(
            backend="openai", base_url=url + "/v1", context_window=8192, read_timeout_s=60
        )
    # A tree that has server.http / server.loop gets them as settings (so the header
    # deadline protocol of that parser is used); an older one knows only h11 and asyncio.
    from lockgate.config.server import ServerConfig

    server: dict[str, str] = {}
    for key in ("http", "loop"):
        value = getattr(args, key)
        if value != "config" and key in ServerConfig.model_fields:
            server[key] = value
    settings = Settings(
        home=home,
        models=models,
        auth={"allow_anonymous": True},  # type: ignore[arg-type]
        pipeline=args.pipeline.split(","),
        server=server,
    )
    try:  # a tree with the serving process's GC policy applies it, as `lockgate serve` does
        from lockgate.gateway import gcpolicy

        gcpolicy.serving()
    except ImportError:
        pass
    app = create_app(Services(settings), preload_models=False)
    opts = uvicorn_limits(settings.server)
    if args.loop != "config":
        opts["loop"] = args.loop
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, **opts
    )
    return 0


# ---- parent --------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_up(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on {port} did not start")
        time.sleep(0.2)


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")


def parse_wrk(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{q}_ms"] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return res


def wrk(port: int, lua: Path, conns: int, seconds: float) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{int(seconds)}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    res = parse_wrk(done.stdout)
    if not res["requests"]:
        print(f"wrk: no requests: {done.stdout[-1000:]} {done.stderr[-1000:]}", file=sys.stderr)
    return res


def parse_variant(text: str) -> dict[str, str]:
    name, *pairs = text.split(",")
    v = {"name": name, "tree": str(ROOT), "client": "default", "loop": "config", "http": "config"}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in v or key == "name":
            raise SystemExit(f"--variant {text!r}: unknown key {key!r}")
        v[key] = value
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--conns", default="8,64")
    ap.add_argument("--delays", default="0,50", help="upstream answer delays in ms")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pipeline", default="call_model")
    ap.add_argument("--json", default=None)
    # internal: the child-process gateway
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--upstreams", help=argparse.SUPPRESS)
    ap.add_argument("--client", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--loop", default="config", help=argparse.SUPPRESS)
    ap.add_argument("--http", default="config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve_child(args)
    variants = [parse_variant(v) for v in args.variant] or [parse_variant("this")]
    conns = [int(c) for c in args.conns.split(",")]
    delays = [int(d) for d in args.delays.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-ab-"))
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[dict[str, Any]] = []
    try:
        upstreams = {}
        for ms in delays:
            port = free_port()
            log = tmp / f"up{ms}.log"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "stdlib_upstream.py"),
                    str(port),
                    "--delay-ms",
                    str(ms),
                ],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            procs.append(proc)
            wait_up(port, proc, log)
            upstreams[ms] = f"http://127.0.0.1:{port}"
        luas = {}
        for ms in delays:
            luas[ms] = tmp / f"delay-{ms}.lua"
            luas[ms].write_text(LUA.replace("MODEL", f"delay-{ms}"))
        gateways = {}
        for v in variants:
            port = free_port()
            tree = Path(v["tree"]).resolve()
            env = {k: val for k, val in os.environ.items() if not k.startswith("LOCKGATE_")}
            env.update(
                PYTHONPATH=f"{tree / 'src'}:{tree}",
                LOCKGATE_LIMITS__RULES='[{"per":["key"],"rpm":100000000}]',
            )
            log = tmp / f"gw-{v['name']}.log"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve",
                "--port",
                str(port),
                "--home",
                str(tmp / f"home-{v['name']}"),
                "--upstreams",
                ",".join(f"{ms}={u}" for ms, u in upstreams.items()),
                "--client",
                v["client"],
                "--loop",
                v["loop"],
                "--http",
                v["http"],
                "--pipeline",
                args.pipeline,
            ]
            proc = subprocess.Popen(
                cmd, cwd=tree, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            procs.append(proc)
            wait_up(port, proc, log)
            gateways[v["name"]] = (port, proc.pid)
        for name, (port, _) in gateways.items():
            for ms in delays:
                w = wrk(port, luas[ms], max(conns), args.warmup)
                print(
                    f"warm-up {name} delay {ms}: {w['rps']} req/s, non-2xx {w['non_2xx']}",
                    flush=True,
                )
        for rnd in range(args.rounds):
            order = list(gateways.items())
            if rnd % 2:
                order.reverse()
            for ms in delays:
                for c in conns:
                    for name, (port, pid) in order:
                        cpu0 = cpu_seconds(pid)
                        w = wrk(port, luas[ms], c, args.seconds)
                        cpu = cpu_seconds(pid) - cpu0
                        w.update(
                            variant=name,
                            round=rnd + 1,
                            delay_ms=ms,
                            conns=c,
                            cpu_ms_per_request=round(1000 * cpu / max(1, w["requests"]), 3),
                            load=round(os.getloadavg()[0], 2),
                        )
                        rows.append(w)
                        print(json.dumps(w), flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        "| variant | delay | conns | round | req/s | p50 ms | p99 ms | non-2xx + errors "
        "| gateway CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["delay_ms"], r["conns"], r["variant"], r["round"])):
        print(
            f"| {r['variant']} | {r['delay_ms']} | {r['conns']} | {r['round']} | {r['rps']:.1f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx'] + r['socket_errors']} "
            f"| {r['cpu_ms_per_request']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"benchmark": "wrk_ab", "variants": variants, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
