"""A reference pass-through proxy that costs a fixed CPU time per request and nothing else,
for the question "how much more do two processes get than one on this machine, for a
server of this cost, at this load?" with no gateway code involved:

    .venv/bin/python bench/burn_proxy.py PORT UPSTREAM_PORT [--procs 2] [--burn-ms 2.0]

Each POST is forwarded to the upstream (`bench/stdlib_upstream.py`) over a kept-alive
connection of a per-process pool, and its answer relayed back. Around the upstream call the
process spins for `--burn-ms` milliseconds of its own thread's CPU time (half before, half
after): interpreter work (dicts, strings), as a gateway's stages are. So its CPU per request
is the burn plus its own small overhead, and a run at 1 and 2 processes shows what the
cores and the scheduler allow a server of that cost, with wrk and the upstream on the same
cores.

`--procs N` forks N processes after binding one listening socket. They share its
connections least-connections first, as the gateway's supervisor does: a process accepts
only while it holds no more connections than any other (counts in shared memory), so a
closed-loop load generator's connections split evenly. uvloop is used where installed
(the gateway's default loop); `--loop asyncio` uses the standard one. Standard library
otherwise: no framework, no HTTP library."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from typing import Any

# Spin in slices of this many inner iterations between CPU-clock reads: the clock read is
# a system call for a thread's CPU time (no vDSO), so reading it every step would make the
# burn mostly syscalls.
_SLICE = 40


def burn(seconds: float) -> int:
    """Spend `seconds` of this thread's CPU time on interpreter work; returns a checksum so
    the work cannot be optimised away."""
    if seconds <= 0:
        return 0
    end = time.thread_time() + seconds
    acc = 0
    while time.thread_time() < end:
        for i in range(_SLICE):
            d = {"model": "m", "n": i, "text": f"word-{i}"}
            acc += len(d["text"]) + d["n"]
    return acc


class UpstreamPool:
    """Kept-alive connections to the upstream; a request takes one, or opens one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()

    async def post(self, path: bytes, body: bytes) -> bytes:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(
            b"POST " + path + b" HTTP/1.1\r\nhost: upstream\r\ncontent-type: application/json"
            b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        answer = await reader.readexactly(_length(head))
        self._idle.append((reader, writer))
        return answer


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


async def serve(
    listener: socket.socket, counts: Any, index: int, up_port: int, burn_s: float
) -> None:
    loop = asyncio.get_running_loop()
    pool = UpstreamPool("127.0.0.1", up_port)
    half = burn_s / 2

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(_length(head))
                path = head.split(b" ", 2)[1]
                burn(half)
                answer = await pool.post(path, body)
                burn(half)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(answer)).encode()
                    + b"\r\n\r\n"
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            counts[index] -= 1
            writer.close()

    def may_accept() -> bool:
        return all(counts[index] <= counts[k] for k in range(len(counts)) if k != index)

    def on_readable() -> None:
        # Least-connections first: the process holding more lets the others take it.
        while may_accept():
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            counts[index] += 1
            task = loop.create_task(_start(conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        # Over its share: look again shortly (another process may have closed some).
        loop.remove_reader(listener.fileno())
        loop.call_later(0.001, rearm)

    def rearm() -> None:
        loop.add_reader(listener.fileno(), on_readable)

    async def _start(conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        await handle(reader, writer)

    tasks: set[asyncio.Task[None]] = set()
    loop.add_reader(listener.fileno(), on_readable)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def child(listener: socket.socket, counts: Any, index: int, args: argparse.Namespace) -> None:
    runner = asyncio.run
    if args.loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    runner(serve(listener, counts, index, args.upstream_port, args.burn_ms / 1000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("upstream_port", type=int)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--burn-ms", type=float, default=2.0, help="CPU-ms spent per request")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(2048)
    listener.setblocking(False)
    counts = multiprocessing.RawArray("i", args.procs)
    kids = []
    for index in range(args.procs):
        pid = os.fork()
        if pid == 0:
            try:
                child(listener, counts, index, args)
            finally:
                os._exit(0)
        kids.append(pid)

    def stop(*_: object) -> None:
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in kids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
