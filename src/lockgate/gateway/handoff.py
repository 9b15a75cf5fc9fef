"""Connections handed to workers by the supervisor (`server.worker_sockets: balanced`).

A kept-alive connection stays with the worker that accepted it, so the spread of
connections is the spread of load. With a socket per worker the kernel spreads them by a
hash of their addresses, blind to load: 64 connections split 42/22 in one run, and four
kept-alive connections from a load balancer land all on one worker one time in eight. Here
the supervisor alone accepts, and passes each connection (its file descriptor, over a Unix
socket per worker, SCM_RIGHTS) to the ready worker that holds the fewest, as nginx's
`least_conn` chooses; a worker reports each connection it closes. It costs the supervisor
one `accept` and one `sendmsg` per connection, not per request.

A worker takes its share of connections once warm (gateway/warmup.py); while none is,
those that have started take them, so that `/healthz` and `/readyz` answer during a long
warm-up as they do with one process. A worker stops taking them at its shutdown or death:
its end of the channel closes, the supervisor sees the end of file and sends nothing more
its way. When no worker has started the supervisor stops accepting and the kernel's
backlog holds new connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("lockgate.gateway")

STARTED = b"s"  # its server runs: it can answer, /healthz and /readyz included
READY = b"r"  # its warm-up is over too: it takes its share
CLOSED = b"c"
WARM_POLL_S = 0.05
# Connections taken from the backlog per wake-up, so that closes and deaths are read
# between bursts.
ACCEPT_BURST = 64


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(supervisor's end, worker's end): datagram-like, so one message is one connection."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.set_inheritable(True)
    return ours, theirs


def is_channel(sock: socket.socket) -> bool:
    return sock.family == socket.AF_UNIX and sock.type == socket.SOCK_SEQPACKET


# ---- the supervisor's side -------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    end: socket.socket
    name: str
    started: bool = False
    ready: bool = False
    connections: int = 0
    handed: int = 0


class Dispatcher:
    """Accepts on `listener` in a thread of its own and hands each connection to the ready
    worker with the fewest open connections (ties: the one handed fewer so far)."""

    def __init__(self, listener: socket.socket, backlog: int = 2048) -> None:
        self.listener = listener
        self.backlog = backlog
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lockgate-dispatch", daemon=True)

    def attach(self, end: socket.socket, name: str) -> None:
        """A new worker's channel (the supervisor's end), taking connections once ready."""
        with self._lock:
            self._workers.append(_Worker(end, name))
        self._poke()

    def start(self) -> None:
        self.listener.listen(self.backlog)
        self.listener.setblocking(False)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting (the listener stays open for its owner to close); the workers keep
        the connections they hold."""
        self._stop.set()
        self._poke()
        if self._thread.is_alive():
            self._thread.join(5)
        with self._lock:
            for worker in self._workers:
                worker.end.close()
            self._workers.clear()
        self._wake_r.close()
        self._wake_w.close()

    def shares(self) -> dict[str, int]:
        """Open connections per worker, as last reported."""
        with self._lock:
            return {w.name: w.connections for w in self._workers}

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        listening = False
        watched: set[int] = set()
        try:
            while not self._stop.is_set():
                with self._lock:
                    workers = list(self._workers)
                for worker in workers:
                    if worker.end.fileno() not in watched:
                        sel.register(worker.end, selectors.EVENT_READ, worker)
                        watched.add(worker.end.fileno())
                want = any(w.started for w in workers)
                if want and not listening:
                    sel.register(self.listener, selectors.EVENT_READ)
                elif listening and not want:
                    sel.unregister(self.listener)
                listening = want
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif key.fileobj is self.listener:
                        self._accept()
                    else:
                        worker = key.data
                        if not self._read(worker):
                            sel.unregister(worker.end)
                            watched.discard(worker.end.fileno())
                            self._drop(worker)
        except Exception:  # noqa: BLE001 - a dead dispatcher must say why, loudly
            log.exception("connection dispatcher stopped; no new connections are accepted")
        finally:
            sel.close()

    def _read(self, worker: _Worker) -> bool:
        """Take in the worker's reports; False once its end is closed (it stopped or died)."""
        while True:
            try:
                data = worker.end.recv(4096)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            with self._lock:
                worker.started = worker.started or STARTED in data or READY in data
                if READY in data and not worker.ready:
                    worker.ready = True
                    log.info("worker %s is warm and takes connections", worker.name)
                worker.connections = max(0, worker.connections - data.count(CLOSED))

    def _drop(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.end.close()

    def _accept(self) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, or the listener closed
                log.warning("accept failed: %s", exc)
                self._stop.wait(0.1)  # not at full speed while it lasts
                return
            try:
                if conn.family in (socket.AF_INET, socket.AF_INET6):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._hand(conn)
            finally:
                conn.close()  # the worker holds its own copy now

    def _hand(self, conn: socket.socket) -> None:
        with self._lock:
            ranked = sorted(
                (w for w in self._workers if w.started),
                key=lambda w: (not w.ready, w.connections, w.handed),
            )
        for worker in ranked:
            # Counted before the send: once the worker holds the descriptor, its close
            # report may arrive, and `shares` must already count what it holds.
            with self._lock:
                worker.connections += 1
                worker.handed += 1
            try:
                socket.send_fds(worker.end, [b"c"], [conn.fileno()], socket.MSG_DONTWAIT)
            except OSError as failed:
                with self._lock:
                    worker.connections -= 1
                    worker.handed -= 1
                    if not isinstance(failed, BlockingIOError):
                        worker.started = worker.ready = False  # gone; its end of file follows
                continue  # a full channel means it is not reading: try the next
            return
        log.warning("no worker could take a connection; closed")


# ---- a worker's side -------------------------------------------------------------------------


class HandoffServer(Server):
    """uvicorn's server, serving the connections that arrive on a channel instead of
    accepting on a listening socket; with a listening socket it is uvicorn's own."""

    _channel: socket.socket | None = None
    _warm_task: asyncio.Task[None] | None = None
    _unreported = 0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets or not is_channel(sockets[0]):
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        self.servers = []
        channel = sockets[0]
        channel.setblocking(False)
        self._channel = channel
        loop = asyncio.get_running_loop()
        loop.add_reader(channel.fileno(), self._receive, loop)
        self._report(STARTED)
        self._warm_task = loop.create_task(self._when_warm())
        self.started = True

    async def _when_warm(self) -> None:
        from lockgate.gateway import warmup

        while not warmup.settled():
            await asyncio.sleep(WARM_POLL_S)
        self._report(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        channel = self._channel
        if channel is not None:
            # No connection is taken once shutting down; the supervisor sees the channel
            # close and hands the next ones to the other workers.
            asyncio.get_running_loop().remove_reader(channel.fileno())
            if self._warm_task is not None:
                self._warm_task.cancel()
            self._channel = None
            channel.close()
            sockets = None
        await super().shutdown(sockets)

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: Any = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                self._closed()

        protocol.connection_lost = connection_lost
        return protocol  # type: ignore[no-any-return]

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        channel = self._channel
        while channel is not None:
            try:
                _, fds, _, _ = socket.recv_fds(channel, 16, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                fds = []
            if not fds:
                # The supervisor is gone: nothing more will come, so stop as on a signal.
                loop.remove_reader(channel.fileno())
                self._channel = None
                self.should_exit = True
                return
            for fd in fds:
                loop.create_task(self._serve_one(loop, socket.socket(fileno=fd)))

    async def _serve_one(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, conn, ssl=self.config.ssl)
        except OSError:
            conn.close()  # the client left before it was served
            self._closed()

    def _closed(self) -> None:
        self._unreported += 1
        if self._report(CLOSED * self._unreported):
            self._unreported = 0

    def _report(self, message: bytes) -> bool:
        channel = self._channel
        if channel is None:
            return True
        try:
            channel.send(message)
        except BlockingIOError:
            return False  # told with the next one
        except OSError:
            return True  # the supervisor is gone; nobody to tell
        return True


class HandoffProcess(Process):
    """uvicorn's worker process, running a `HandoffServer` on a channel of its own. The
    supervisor's copy of the worker's end is closed once the worker holds its own, so the
    worker's death closes the channel."""

    def __init__(self, config: Config, dispatcher: Dispatcher) -> None:
        self._ours, self._theirs = channel_pair()
        self._dispatcher = dispatcher
        super().__init__(config, [self._theirs])

    def __getstate__(self) -> dict[str, Any]:
        # What the spawned worker gets (its channel travels as an argument, not with this).
        state = self.__dict__.copy()
        for supervisor_only in ("_ours", "_theirs", "_dispatcher"):
            state.pop(supervisor_only, None)
        return state

    def start(self) -> None:
        super().start()
        self._theirs.close()
        self._dispatcher.attach(self._ours, str(self.pid))

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = HandoffServer(config=self.config)
        return self._server
