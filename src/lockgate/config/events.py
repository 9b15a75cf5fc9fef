"""The event writer: how the trace rows and audit entries of answered requests reach the store
(observability/dispatch.py). Each process queues them and one thread writes them in batches,
one transaction per batch, so a request never waits for its own trace to be committed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockgate.config._base import Strict


class EventsConfig(Strict):
    # Events accepted but not yet written (a turn's trace and findings count one each).
    queue_size: int = Field(10_000, ge=1, le=1_000_000)
    # The most events one batch (one transaction per store) takes.
    max_batch: int = Field(256, ge=1, le=100_000)
    # Under load (events arrive faster than a batch is written), how long the writer lets a
    # batch fill once its first event is queued; it writes sooner when none came for a
    # quarter of this. A trickle of events is written at once. A reader waiting for the
    # queue (read-your-writes) never waits for this. A transaction costs about as much CPU
    # as a dozen trace rows, so this sets the writer's cost per request at a given rate:
    # with several worker processes each sees a fraction of the rate, and at 20 ms their
    # batches shrank enough to cost 28% more CPU per request than one process's.
    flush_interval_s: float = Field(0.1, ge=0, le=10)
    # A full queue (the store falls behind): `block` holds the caller until there is room,
    # at most `block_timeout_s`, then drops; `drop` drops at once. Dropped events are
    # counted (`lockgate_events_dropped_total`) and logged.
    on_full: Literal["block", "drop"] = "block"
    block_timeout_s: float = Field(10.0, gt=0, le=600)
    # A read of the trace store or the audit log first waits, this long at most, for what
    # this process accepted before it (cheap when the queue is empty).
    read_wait_s: float = Field(5.0, ge=0, le=600)
    # A stopping gateway, a CLI command or Services.close waits this long for the queue.
    shutdown_timeout_s: float = Field(30.0, ge=0, le=3600)
