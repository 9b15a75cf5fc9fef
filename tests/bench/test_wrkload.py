"""bench/wrkload.py: wrk's report parsed from real wrk output, and real wrk runs against the
stdlib upstream (unique bodies across threads and runs, errors and timeouts counted)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import wrkload

# Captured from wrk 4 (Debian) against bench/stdlib_upstream.py --delay-ms 50.
NORMAL = """\
Running 2s test @ http://127.0.0.1:19611
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    50.62ms  333.64us  52.36ms   94.87%
    Req/Sec   156.15     17.93   161.00     95.00%
  Latency Distribution
     50%   50.54ms
     75%   50.57ms
     90%   50.64ms
     99%   52.35ms
  312 requests in 2.00s, 101.16KB read
Requests/sec:    155.83
Transfer/sec:     50.52KB
"""

# Every request timed out (the upstream waited 1.5 s, wrk's timeout was 1 s).
TIMEOUTS = """\
Running 2s test @ http://127.0.0.1:19611
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     2.00      0.00     2.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 2.00s, 1.30KB read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      2.00
Transfer/sec:     662.89B
"""

# An overloaded gateway: seconds-long tails, socket errors of every kind, 503s.
OVERLOADED = """\
Running 8s test @ http://127.0.0.1:8080
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.18s   312.40ms   1.97s    71.20%
    Req/Sec    40.11     20.30   101.00     66.00%
  Latency Distribution
     50%    1.18s
     75%    1.40s
     90%    1.62s
     99%    1.95s
  232 requests in 8.02s, 310.22KB read
  Socket errors: connect 3, read 7, write 1, timeout 62
  Non-2xx or 3xx responses: 5
Requests/sec:     28.93
Transfer/sec:     38.68KB
"""


def test_parses_a_normal_report() -> None:
    r = wrkload.parse_wrk(NORMAL)
    assert (r.requests, r.seconds, r.rps) == (312, 2.0, 155.83)
    assert r.latency_ms == {
        "avg": 50.62,
        "stdev": 0.334,
        "max": 52.36,
        "p50": 50.54,
        "p75": 50.57,
        "p90": 50.64,
        "p99": 52.35,
    }
    assert (r.socket_errors, r.timeouts, r.non_2xx, r.ok) == (0, 0, 0, 312)


def test_counts_timeouts_and_keeps_zero_latencies() -> None:
    r = wrkload.parse_wrk(TIMEOUTS)
    assert (r.requests, r.timeouts, r.socket_errors) == (4, 4, 0)
    assert r.latency_ms["p99"] == 0.0
    assert wrkload.errors_cell(r) == "4 timeouts"


def test_reads_seconds_socket_errors_and_non_2xx() -> None:
    r = wrkload.parse_wrk(OVERLOADED)
    assert r.latency_ms["p50"] == 1180.0 and r.latency_ms["p99"] == 1950.0
    assert r.latency_ms["stdev"] == 312.4
    assert (r.connect_errors, r.read_errors, r.write_errors, r.timeouts) == (3, 7, 1, 62)
    assert r.socket_errors == 11
    assert (r.non_2xx, r.ok, r.seconds) == (5, 227, 8.02)
    assert wrkload.errors_cell(r) == "62 timeouts + 3 connect + 7 read + 1 write"
    assert r.to_dict()["socket_errors"] == 11


@pytest.mark.parametrize(
    ("text", "ms"), [("830.00us", 0.83), ("52.10ms", 52.1), ("1.02s", 1020.0), ("1.50m", 90_000.0)]
)
def test_durations_in_every_unit(text: str, ms: float) -> None:
    assert wrkload.duration_ms(text) == pytest.approx(ms)


def test_fractional_percentiles_keep_their_name() -> None:
    text = NORMAL.replace("     99%   52.35ms\n", "     99%   52.35ms\n     99.900%   60.00ms\n")
    assert wrkload.parse_wrk(text).latency_ms["p99.9"] == 60.0


def test_what_is_not_a_wrk_report_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wrk report"):
        wrkload.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(ValueError):
        wrkload.duration_ms("12 parsecs")


def test_fmt_ms() -> None:
    assert [wrkload.fmt_ms(v) for v in (52.04, 672.4, 1940.0, None)] == [
        "52.0 ms",
        "672 ms",
        "1.94 s",
        "-",
    ]


# ---- against real servers -----------------------------------------------------------------

needs_wrk = pytest.mark.skipif(not Path(wrkload.WRK).exists(), reason="needs Debian's wrk")


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = wrkload.free_port()
    script = wrkload.BENCH / "stdlib_upstream.py"
    proc = wrkload.start(
        [sys.executable, str(script), str(port), "--delay-ms", "20"], tmp_path / "upstream.log"
    )
    try:
        wrkload.wait_port(port, proc, tmp_path / "upstream.log")
        yield port, proc
    finally:
        wrkload.stop(proc)
    assert proc.poll() is not None


@needs_wrk
def test_a_run_against_the_stdlib_upstream(upstream: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, proc = upstream
    before = wrkload.tree_cpu_s(proc.pid)
    r, wrk_cpu = wrkload.run_wrk(f"http://127.0.0.1:{port}", 4, 1, threads=2)
    # 4 connections, 20 ms each: at most ~200 req/s, and each response takes >= 20 ms.
    assert 20 <= r.requests <= 260
    assert r.latency_ms["p50"] >= 19.5
    assert (r.non_2xx, r.socket_errors, r.timeouts) == (0, 0, 0)
    assert wrkload.tree_cpu_s(proc.pid) >= before
    assert wrk_cpu >= 0
    assert wrkload.tree_pids(proc.pid) == [proc.pid]


@needs_wrk
def test_wrk_timeouts_are_counted(upstream: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, _ = upstream
    # A path asking for 1.5 s against a 1 s timeout, for 2 s: the first requests time out.
    r, _ = wrkload.run_wrk(
        f"http://127.0.0.1:{port}",
        2,
        2,
        timeout_s=1,
        env={"WRK_PATH": "/delay/1500/v1/chat/completions"},
    )
    assert r.timeouts >= 1
    assert r.latency_ms.get("p99", 0.0) == 0.0


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.bodies.append(body)
        status = 503 if b"[request fail-" in body else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@needs_wrk
def test_bodies_are_unique_across_threads_and_runs() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first, _ = wrkload.run_wrk(url, 4, 1, threads=2, env={"WRK_SALT": "a"})
        second, _ = wrkload.run_wrk(url, 4, 1, threads=2, env={"WRK_SALT": "b"})
        failing, _ = wrkload.run_wrk(url, 2, 1, env={"WRK_SALT": "fail"})
    finally:
        server.shutdown()
        server.server_close()
    bodies = _Recorder.bodies
    assert first.requests > 10 and second.requests > 10
    assert len(set(bodies)) == len(bodies)  # no body twice, in any thread or run
    assert b'"model":"delay-0"' in bodies[0]
    assert (first.non_2xx, second.non_2xx) == (0, 0)
    assert failing.non_2xx == failing.requests > 0


def test_tree_cpu_counts_children() -> None:
    # A parent whose child burns 0.3 s of CPU and exits: the child's time is counted through
    # the parent once reaped (the parent itself only starts Python and sleeps).
    burn = "import time; t = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    code = (
        "import subprocess, sys, time; "
        f"subprocess.run([sys.executable, '-c', {burn!r}]); print('reaped', flush=True); "
        "time.sleep(30)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"reaped\n"
        assert wrkload.tree_pids(proc.pid) == [proc.pid]  # the child is gone
        own = sum(int(f) for f in wrkload._stat_fields(proc.pid)[11:13]) / wrkload.CLK_TCK
        assert own < 0.25
        assert wrkload.tree_cpu_s(proc.pid) >= 0.28
    finally:
        wrkload.stop(proc, timeout=5)
    assert proc.poll() is not None
