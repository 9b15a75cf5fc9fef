"""The ingest job queue: one narrow interface, `JobQueue`, and its Redis streams backend.

A job is a file of a queued run (path, run id, the content hash when it was enqueued, its
row id in `ingest_jobs`). Delivery is at least once: a job stays pending in the consumer
group until a worker acks it, and one a worker stopped heartbeating for longer than the
visibility timeout (killed, its node lost) is claimed by another worker (XAUTOCLAIM). Exactly
once is the store's part: the job's row and its document commit together
(store/ingest_jobs.py), so a second delivery of a finished job is acked and dropped.

Why Redis streams and not RabbitMQ: the gateway already runs Redis for its shared state
(docs/shared-state.md) and redis-py is a dependency, consumer groups give per-message acks,
redelivery of a dead consumer's messages and a pending list to inspect, and a stream can be
read back (XRANGE) to see what is queued. RabbitMQ would be a second broker to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.exceptions import ResponseError

from lockgate.config import IngestQueueConfig, RedisConfig


@dataclass(frozen=True)
class Job:
    job_id: int
    run_id: int
    source: str
    content_hash: str | None = None

    def fields(self) -> dict[str, str]:
        return {
            "job": str(self.job_id),
            "run": str(self.run_id),
            "source": self.source,
            "hash": self.content_hash or "",
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Job:
        """Raises ValueError (KeyError included) for a message that is not a job."""
        try:
            return cls(
                job_id=int(fields["job"]),
                run_id=int(fields["run"]),
                source=fields["source"],
                content_hash=fields.get("hash") or None,
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc}") from exc


@dataclass(frozen=True)
class Delivery:
    message_id: str
    fields: dict[str, str]
    # True when the message was taken from a consumer that stopped heartbeating.
    reclaimed: bool = False

    def job(self) -> Job:
        return Job.from_fields(self.fields)


class JobQueue(Protocol):
    def put(self, jobs: Sequence[Job]) -> None: ...

    def take(self, consumer: str, count: int = 1) -> list[Delivery]:
        """Up to `count` deliveries: abandoned ones first, else new ones (waiting a while)."""
        ...

    def ack(self, delivery: Delivery) -> None: ...

    def retry(self, delivery: Delivery) -> None:
        """Put the job at the back of the queue again and drop this delivery."""
        ...

    def dead_letter(self, delivery: Delivery, reason: str) -> None: ...

    def keep(self, delivery: Delivery, consumer: str) -> bool:
        """Heartbeat: the consumer still works on it. False when another consumer has
        taken it meanwhile (this one stalled past the visibility timeout)."""
        ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...


# Resets the idle time of a pending message, only if `consumer` still holds it: a worker
# that stalled past the timeout must not take back a job another worker has claimed.
_KEEP = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


class RedisStreamQueue:
    """`JobQueue` on a Redis stream with one consumer group."""

    def __init__(self, redis_config: RedisConfig, config: IngestQueueConfig) -> None:
        if redis_config.url is None:
            raise ValueError("redis.url is not set")
        self.config = config
        self.stream = redis_config.prefix + config.stream
        self.dead = redis_config.prefix + config.dead_letter_stream
        self.group = config.group
        # Its own client: a blocking read waits up to block_s, far over the shared-state
        # client's per-command timeout (sharedstate/client.py), which the request path needs.
        self.client: Any = redis.Redis.from_url(
            redis_config.url,
            socket_timeout=config.block_s + 10,
            socket_connect_timeout=max(redis_config.connect_timeout_s, 2.0),
            decode_responses=True,
        )
        self._keep = self.client.register_script(_KEEP)
        self._claim_from = "0-0"
        self._group_ready = False
        self._consumers: set[str] = set()

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def put(self, jobs: Sequence[Job]) -> None:
        self._ensure_group()
        for start in range(0, len(jobs), 500):
            pipe = self.client.pipeline(transaction=False)
            for job in jobs[start : start + 500]:
                pipe.xadd(self.stream, job.fields())
            pipe.execute()

    def take(self, consumer: str, count: int = 1) -> list[Delivery]:
        try:
            return self._take(consumer, count)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the stream (a restart without persistence, a FLUSHALL): make the
            # group again from the stream's start; `lockgate runs requeue` refills it.
            self._group_ready = False
            self._consumers.clear()
            self._claim_from = "0-0"
            return self._take(consumer, count)

    def _take(self, consumer: str, count: int) -> list[Delivery]:
        self._ensure_group()
        if consumer not in self._consumers:
            # Listed in XINFO CONSUMERS from the start (a read that times out on an empty
            # stream does not add it), so `lockgate` and operators can see who is there.
            self.client.xgroup_createconsumer(self.stream, self.group, consumer)
            self._consumers.add(consumer)
        idle_ms = int(self.config.visibility_timeout_s * 1000)
        reply = self.client.xautoclaim(
            self.stream, self.group, consumer, idle_ms, start_id=self._claim_from, count=count
        )
        # Redis 7 answers (next cursor, messages, ids deleted meanwhile); 6.2 without the last.
        cursor, claimed = reply[0], reply[1]
        self._claim_from = cursor if cursor else "0-0"
        out = [Delivery(mid, dict(f or {}), True) for mid, f in claimed if f is not None]
        if len(reply) > 2 and reply[2]:
            self.client.xack(self.stream, self.group, *reply[2])
        if out:
            return out
        block_ms = int(self.config.block_s * 1000)
        streams = self.client.xreadgroup(
            self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [Delivery(mid, dict(f)) for _, messages in streams or [] for mid, f in messages]

    def ack(self, delivery: Delivery) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, delivery.message_id)
        pipe.xdel(self.stream, delivery.message_id)
        pipe.execute()

    def retry(self, delivery: Delivery) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.stream, delivery.fields)
        pipe.xack(self.stream, self.group, delivery.message_id)
        pipe.xdel(self.stream, delivery.message_id)
        pipe.execute()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead, {**delivery.fields, "reason": reason[:1000]})
        pipe.xack(self.stream, self.group, delivery.message_id)
        pipe.xdel(self.stream, delivery.message_id)
        pipe.execute()

    def keep(self, delivery: Delivery, consumer: str) -> bool:
        return bool(
            self._keep(keys=[self.stream], args=[self.group, consumer, delivery.message_id])
        )

    def stats(self) -> dict[str, int]:
        self._ensure_group()
        pending = self.client.xpending(self.stream, self.group)
        return {
            "queued": int(self.client.xlen(self.stream)) - int(pending["pending"]),
            "in_flight": int(pending["pending"]),
            "dead_letters": int(self.client.xlen(self.dead)),
        }

    def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        return [{"id": mid, **f} for mid, f in self.client.xrange(self.dead, count=count)]

    def close(self) -> None:
        self.client.close()


def open_queue(redis_config: RedisConfig, config: IngestQueueConfig) -> RedisStreamQueue:
    return RedisStreamQueue(redis_config, config)
