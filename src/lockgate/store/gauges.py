"""Counts read at scrape time for the /metrics gauges: the batch queue, quarantine and the
sources' indexing age. Read from the store because every gateway process shares it, so each
process reports the same numbers whichever one is scraped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from lockgate.store import tables as tb

# The batch states a worker still has to act on (batch/batches.py ACTIVE), and the item
# states that are queued work; finished items are counted by `lockgate_batch_items_total`.
UNFINISHED_BATCHES = ("validating", "in_progress", "cancelling", "finalizing")
QUEUED_ITEMS = ("pending", "running")


@dataclass(frozen=True)
class SourceHealth:
    total: int
    failing: int  # the last sync failed
    never_indexed: int
    oldest_indexed_at: float | None  # epoch seconds of the least recently indexed source


class GaugeReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def batch_queue(self) -> tuple[dict[str, int], dict[str, int]]:
        """(queued items by status, unfinished batches by status); every status is present."""
        b, i = tb.batches, tb.batch_items
        with self.engine.connect() as conn:
            item_rows = conn.execute(
                select(i.c.status, func.count())
                .select_from(i.join(b, b.c.id == i.c.batch_id))
                .where(b.c.status.in_(UNFINISHED_BATCHES), i.c.status.in_(QUEUED_ITEMS))
                .group_by(i.c.status)
            ).all()
            batch_rows = conn.execute(
                select(b.c.status, func.count())
                .where(b.c.status.in_(UNFINISHED_BATCHES))
                .group_by(b.c.status)
            ).all()
        items = dict.fromkeys(QUEUED_ITEMS, 0) | {str(s): int(n) for s, n in item_rows}
        batches = dict.fromkeys(UNFINISHED_BATCHES, 0) | {str(s): int(n) for s, n in batch_rows}
        return items, batches

    def quarantined(self) -> int:
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(tb.quarantine)).scalar_one()
        return int(n)

    def sources(self) -> SourceHealth:
        s = tb.sources
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    func.count(),
                    func.count().filter(s.c.consecutive_failures > 0),
                    func.count().filter(s.c.last_indexed_at.is_(None)),
                    func.min(s.c.last_indexed_at),
                )
            ).one()
        total, failing, never, oldest = row
        return SourceHealth(
            int(total), int(failing), int(never), None if oldest is None else float(oldest)
        )
