"""bench/_procstat.py against real processes and sockets: a child that burns CPU is
counted, one that sleeps is not, a gone process counts nothing, the machine's busy time
moves, and each process is credited with the accepted connections it holds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import _procstat as ps

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_busy_child_is_counted_and_a_sleeping_one_is_not() -> None:
    busy = _child("import time\nt = time.time()\nwhile time.time() - t < 1.5: pass")
    idle = _child("import time; time.sleep(1.5)")
    try:
        time.sleep(0.3)
        b0, i0, m0 = ps.usage(busy.pid), ps.usage(idle.pid), ps.machine_busy_s()
        time.sleep(0.8)
        b1, i1, m1 = ps.usage(busy.pid), ps.usage(idle.pid), ps.machine_busy_s()
        assert (b1 - b0).cpu_s > 0.2
        assert (i1 - i0).cpu_s < 0.05
        assert m1 - m0 >= (b1 - b0).cpu_s - 0.05  # the machine saw at least that
        assert ps.total([busy.pid, idle.pid]).cpu_s >= b1.cpu_s
    finally:
        busy.wait(10)
        idle.wait(10)
    assert ps.usage(busy.pid) == ps.Usage()  # reaped: nothing left to read


def test_children_and_cmdline() -> None:
    child = _child("import time; time.sleep(5)")
    try:
        assert child.pid in ps.children(os.getpid())
        assert b"time.sleep(5)" in ps.cmdline(child.pid)
    finally:
        child.kill()
        child.wait(10)
    assert ps.cmdline(child.pid) == b""


def test_connections_are_credited_to_the_process_that_holds_them() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in clients]
        try:
            found = ps.connections_by_pid(port, [os.getpid()])
            # The accepted ends are ours; the clients' ends have another local port.
            assert found == {os.getpid(): 3}
            accepted.pop().close()
            assert ps.connections_by_pid(port, [os.getpid()]) == {os.getpid(): 2}
        finally:
            for s in clients + accepted:
                s.close()


def test_per_request_ms() -> None:
    used = {"gateway": ps.Usage(2.0, 0.5), "wrk": ps.Usage(0.1, 0.0)}
    assert ps.per_request_ms(used, 1000) == {"gateway": 2.0, "wrk": 0.1}
    assert ps.per_request_ms(used, 0)["gateway"] != ps.per_request_ms(used, 0)["gateway"]
