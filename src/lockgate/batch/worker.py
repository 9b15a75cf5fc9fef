"""The batch worker: a background task in the gateway process that runs batch items through
the engine's `run_turn`, exactly as live requests (guardrails, rate limits, budgets, traces), at low
priority: one item at a time, waiting while live requests are in flight, optionally only in
an off-peak window.

Restart safety comes from the store (batches.py): an item is marked running before its
upstream call and completed in the same transaction that stores its result, and the batch is
held by a renewed lease. After `kill -9` the next worker takes the batch once the lease runs
out, skips every completed item, and retries or fails the one that was in flight."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lockgate.batch.batches import Item
from lockgate.batch.files import owner_key
from lockgate.config import BatchConfig
from lockgate.engine.admission import clean_id
from lockgate.engine.replies import completion_body
from lockgate.engine.run import Reply
from lockgate.engine.turn import Call, Principal
from lockgate.observability.metrics import METRICS

if TYPE_CHECKING:
    from lockgate.services import Services

RunTurn = Callable[[Call], Awaitable[Reply]]
# The ASGI shapes, spelled out so the worker does not import a web framework.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("lockgate.batch")

_BATCH_PATHS = ("/v1/files", "/v1/batches")
# Refusals by the gateway itself (its rate limits, its CPU gate, its shared state in Redis
# being away for a fail-closed mechanism): the item is tried again.
_OWN_REFUSALS = {
    (429, "rate_limit_exceeded"),
    (503, "server_busy"),
    (503, "shared_state_unavailable"),
}


class LiveTraffic:
    """Counts live API requests in flight, so the worker can step aside for them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    in_flight = 0  # class-level: one gateway process, one count, read by the worker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        live = path.startswith("/v1/") and not path.startswith(_BATCH_PATHS)
        if not live:
            await self.app(scope, receive, send)
            return
        LiveTraffic.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            LiveTraffic.in_flight -= 1


def in_window(window: str | None, now: float) -> bool:
    if window is None:
        return True
    start, end = window.split("-")
    t = datetime.fromtimestamp(now, UTC).strftime("%H:%M")
    return start <= t < end if start <= end else (t >= start or t < end)


def _line_id() -> str:
    return f"batch_req_{uuid.uuid4().hex[:24]}"


def output_lines(rows: list[Any]) -> tuple[list[str], list[str]]:
    """The OpenAI batch output format: successes in the output file, the rest in the error
    file (with the error response when there was one)."""
    out: list[str] = []
    err: list[str] = []
    for r in rows:
        response = None
        if r.status_code is not None:
            response = {
                "status_code": r.status_code,
                "request_id": r.trace_id,
                "body": json.loads(r.response) if r.response else None,
            }
        line = {
            "id": _line_id(),
            "custom_id": r.custom_id,
            "response": response,
            "error": None
            if r.status == "completed"
            else (json.loads(r.error) if r.error and r.status_code is None else None),
        }
        (out if r.status == "completed" else err).append(json.dumps(line))
    return out, err


class BatchWorker:
    def __init__(self, services: Services, run_turn: RunTurn) -> None:
        self.services = services
        self.run_turn = run_turn
        self.cfg: BatchConfig = services.settings.batch
        self.id = f"w-{uuid.uuid4().hex[:12]}"
        self.store = services.batches
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def run(self) -> None:
        log.info("batch worker %s started", self.id)
        while not self._stop.is_set():
            try:
                did = await self.step()
            except Exception:  # noqa: BLE001 - the worker must outlive one bad batch
                log.exception("batch worker error")
                did = False
            if not did:
                await self._sleep(self.cfg.poll_interval_s)

    async def step(self) -> bool:
        """Claim one batch and work on it until done, cancelled or out of window."""
        if not in_window(self.cfg.window, time.time()):
            return False
        batch_id = await asyncio.to_thread(
            self.store.claim, self.id, time.time(), self.cfg.lease_s, self.cfg.resume_in_flight
        )
        if batch_id is None:
            return False
        beat = asyncio.create_task(self._heartbeat(batch_id))
        try:
            await self._work(batch_id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return True

    async def _heartbeat(self, batch_id: str) -> None:
        while True:
            await asyncio.sleep(self.cfg.lease_s / 3)
            ok = await asyncio.to_thread(
                self.store.renew, batch_id, self.id, time.time(), self.cfg.lease_s
            )
            if not ok:
                return

    async def _work(self, batch_id: str) -> None:
        while not self._stop.is_set():
            row = await asyncio.to_thread(self.store.row, batch_id)
            if row is None or row.worker != self.id:
                return  # lost the lease (we were presumed dead): the successor carries on
            if row.status == "cancelling":
                await asyncio.to_thread(
                    self.store.close_pending,
                    batch_id,
                    "cancelled",
                    "batch_cancelled",
                    "the batch was cancelled before this request ran",
                )
                await self._finalize(batch_id, "cancelled")
                return
            if row.status == "finalizing":
                await self._finalize(batch_id, "completed")
                return
            if row.expires_at is not None and time.time() > row.expires_at:
                await asyncio.to_thread(
                    self.store.close_pending,
                    batch_id,
                    "expired",
                    "batch_expired",
                    "the batch's completion window ended before this request ran",
                )
                await self._finalize(batch_id, "expired")
                return
            if not in_window(self.cfg.window, time.time()):
                await asyncio.to_thread(self.store.release, batch_id, self.id)
                return
            await self._yield_to_live()
            item = await asyncio.to_thread(self.store.next_item, batch_id, self.id)
            if item is None:
                await self._finalize(batch_id, "completed")
                return
            await self._process(item, row)
            if self.cfg.item_interval_s:
                await self._sleep(self.cfg.item_interval_s)

    async def _yield_to_live(self) -> None:
        deadline = time.monotonic() + self.cfg.max_yield_s
        while (
            LiveTraffic.in_flight > self.cfg.yield_above_in_flight
            and time.monotonic() < deadline
            and not self._stop.is_set()
        ):
            await asyncio.sleep(0.02)

    async def _process(self, item: Item, batch: Any) -> None:
        retries = 0
        while True:
            code, body, trace_id, retry_after = await self.execute(item, batch)
            if retry_after is not None and retries < self.cfg.max_rate_limit_retries:
                # Our own rate limit or CPU gate: the request never left the gateway; wait
                # our turn.
                retries += 1
                await self._sleep(retry_after)
                if self._stop.is_set():
                    await asyncio.to_thread(self.store.requeue, item, self.id)
                    return
                continue
            break
        stored = await asyncio.to_thread(
            self.store.finish, item, self.id, code, body, None, trace_id
        )
        METRICS.inc("lockgate_batch_items_total", status="ok" if code == 200 else "error")
        if not stored:
            log.warning("batch %s item %s: lease lost, result dropped", item.batch_id, item.line)

    async def execute(
        self, item: Item, batch: Any
    ) -> tuple[int, dict[str, Any], str, float | None]:
        """One item through the engine, as a non-streaming chat completion."""
        body = dict(item.body)
        body["stream"] = False
        body.pop("stream_options", None)
        meta = json.loads(batch.metadata) if batch.metadata else {}
        meta = meta if isinstance(meta, dict) else {}
        app = batch.app
        call = Call(
            endpoint="/v1/batches",
            body=body,
            principal=Principal(
                id=clean_id(batch.principal, "anonymous"),
                tenant=batch.tenant or "default",
                # The app was checked against the creator's credential when the batch was
                # made; an item's own metadata cannot name another.
                apps=(app,) if app else (),
            ),
            app=app,
            project=meta.get("project"),
        )
        reply = await self.run_turn(call)
        err = reply.error
        if err is None:
            return 200, completion_body(reply), call.trace_id, None
        retry_after: float | None = None
        if (err.status, err.code) in _OWN_REFUSALS:
            headers = {k.lower(): v for k, v in err.headers.items()}
            retry_after = float(headers.get("retry-after", "1"))
        return err.status, err.body(), call.trace_id, retry_after

    async def _finalize(self, batch_id: str, final: str) -> None:
        now = time.time()
        await asyncio.to_thread(
            self.store.mark, batch_id, self.id, status="finalizing", finalizing_at=now
        )
        rows = await asyncio.to_thread(self.store.results, batch_id)
        out, err = output_lines(rows)
        files = self.services.files
        batch = await asyncio.to_thread(self.store.row, batch_id)

        def write(lines: list[str], suffix: str) -> str | None:
            if not lines:
                return None
            data = ("\n".join(lines) + "\n").encode()
            # The output belongs to the batch's owner, who alone may download it.
            owner = owner_key(clean_id(batch.principal, "anonymous"), batch.tenant or "default")
            name = f"{batch_id}_{suffix}.jsonl"
            return str(files.create(name, "batch_output", data, owner)["id"])

        out_id = await asyncio.to_thread(write, out, "output")
        err_id = await asyncio.to_thread(write, err, "error")
        when = {
            "completed": "completed_at",
            "cancelled": "cancelled_at",
            "expired": "completed_at",
        }[final]
        done = await asyncio.to_thread(
            self.store.mark,
            batch_id,
            self.id,
            status=final,
            output_file_id=out_id,
            error_file_id=err_id,
            worker=None,
            lease_until=None,
            **{when: time.time()},
        )
        if done:
            METRICS.inc("lockgate_batches_total", status=final)
            log.info("batch %s %s: %d ok, %d errors", batch_id, final, len(out), len(err))


Running = tuple[BatchWorker, "asyncio.Task[None]"]


def start_worker(services: Services, run_turn: RunTurn) -> Running | None:
    if not services.settings.batch.enabled:
        return None
    worker = BatchWorker(services, run_turn)
    return worker, asyncio.create_task(worker.run())


async def stop_worker(running: Running | None) -> None:
    if running is None:
        return
    worker, task = running
    worker.stop()
    try:
        await asyncio.wait_for(task, timeout=5)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
