"""The audit log: append-only, each entry carrying the hash of the one before it.

hash = SHA-256 of the canonical JSON (sorted keys, no spaces) of seq, created_at, kind, actor,
tenant, ref, data (the stored JSON text) and prev_hash. `audit_head` holds the last seq and hash,
moved by every append in the same transaction; with a key it also holds an HMAC of them, so
cutting the tail, or rewriting the whole chain with fresh hashes, is caught without the key.

Appends take the head under a write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR
UPDATE on the head row), so concurrent writers, in threads or processes, queue instead of
forking the chain; `prev_hash` is unique as a second line of defence. A batch of entries
(`append_many`, the event writer's group commit) is chained under one take of that lock.
Reads first wait for the entries this process queued (`store/pending.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.store import pending
from lockgate.store import tables as tb
from lockgate.store.db import transaction

GENESIS = "0" * 64  # the prev_hash of entry 1

_MOVE_WINDOW = 1000
# Values under these keys never reach the log, whoever writes the entry.
_SECRET_KEYS = ("key", "secret", "password", "token", "authorization", "api_key")
_HASHED = ("seq", "created_at", "kind", "actor", "tenant", "ref", "data", "prev_hash")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def scrub(value: Any, key: str = "") -> Any:
    """The value with anything stored under a secret-looking key replaced by `****`."""
    lowered = key.lower()
    if lowered in _SECRET_KEYS or lowered.endswith(tuple("_" + k for k in _SECRET_KEYS)):
        return "****" if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, key) for v in value]
    return value


def entry_hash(row: dict[str, Any]) -> str:
    """The hash an entry must carry, from its other columns."""
    return hashlib.sha256(canonical({k: row[k] for k in _HASHED}).encode()).hexdigest()


def head_signature(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, canonical({"seq": seq, "hash": head_hash}).encode(), "sha256").hexdigest()


@dataclass(frozen=True)
class Problem:
    """The first entry that does not check out (seq 0: the head itself)."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: str
    signed: bool
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class AuditLog:
    def __init__(self, engine: Engine, key: bytes | None = None) -> None:
        self.engine = engine
        self.key = key or None

    def append(
        self,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        tenant: str | None = None,
        ref: str | None = None,
        created_at: float | None = None,
    ) -> dict[str, Any]:
        """Add one entry at the end of the chain and return it."""
        entry = {"kind": kind, "data": data, "actor": actor, "tenant": tenant, "ref": ref}
        return self.append_many([{**entry, "created_at": created_at}])[0]

    def append_many(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add entries at the end of the chain, in their order, in one transaction under one
        take of the head's write lock (group commit), and return them. Each entry is a dict
        of `append`'s arguments (`kind` required). All or none."""
        if not entries:
            return []
        h = tb.audit_head
        rows: list[dict[str, Any]] = []
        with transaction(self.engine) as conn:
            head = conn.execute(
                select(h.c.seq, h.c.hash).where(h.c.id == 1).with_for_update()
            ).one()
            seq, prev = int(head.seq), str(head.hash)
            for entry in entries:
                at = entry.get("created_at")
                seq += 1
                row: dict[str, Any] = {
                    "seq": seq,
                    "created_at": time.time() if at is None else float(at),
                    "kind": entry["kind"],
                    "actor": entry.get("actor"),
                    "tenant": entry.get("tenant"),
                    "ref": entry.get("ref"),
                    "data": canonical(scrub(entry.get("data") or {})),
                    "prev_hash": prev,
                }
                row["hash"] = prev = entry_hash(row)
                rows.append(row)
            conn.execute(insert(tb.audit_log), rows)
            conn.execute(
                update(h)
                .where(h.c.id == 1)
                .values(
                    seq=seq,
                    hash=prev,
                    updated_at=time.time(),
                    signature=head_signature(self.key, seq, prev) if self.key else None,
                )
            )
        return rows

    def head(self) -> dict[str, Any]:
        pending.settle()
        with self.engine.connect() as conn:
            row = conn.execute(select(tb.audit_head).where(tb.audit_head.c.id == 1)).one()
        return dict(row._mapping)

    def entries(
        self,
        since: float | None = None,
        until: float | None = None,
        kinds: Sequence[str] = (),
        limit: int | None = None,
        newest_first: bool = False,
        after_seq: int = 0,
    ) -> list[dict[str, Any]]:
        pending.settle()
        a = tb.audit_log
        stmt = select(a).where(a.c.seq > after_seq)
        if since is not None:
            stmt = stmt.where(a.c.created_at >= since)
        if until is not None:
            stmt = stmt.where(a.c.created_at < until)
        if kinds:
            stmt = stmt.where(a.c.kind.in_(list(kinds)))
        stmt = stmt.order_by(a.c.seq.desc() if newest_first else a.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def last(self, kind: str) -> dict[str, Any] | None:
        found = self.entries(kinds=[kind], limit=1, newest_first=True)
        return found[0] if found else None

    def verify(self, anchor: tuple[int, str] | None = None) -> Verdict:
        """Walk the whole chain against itself and the head, in one consistent snapshot.
        `anchor`: a (seq, hash) recorded outside the store earlier, which the chain must
        still carry; it catches a rewrite even where no key signs the head."""
        pending.settle()
        with transaction(self.engine, write=False) as conn:
            head = dict(
                conn.execute(select(tb.audit_head).where(tb.audit_head.c.id == 1)).one()._mapping
            )
            result = conn.execution_options(yield_per=1000).execute(
                select(tb.audit_log).order_by(tb.audit_log.c.seq)
            )
            return check((dict(r._mapping) for r in result), head, self.key, anchor)


def check(
    rows: Iterable[dict[str, Any]],
    head: dict[str, Any],
    key: bytes | None,
    anchor: tuple[int, str] | None = None,
) -> Verdict:
    """The first problem in `rows` (ordered by seq) against `head`, or none."""
    count, prev_seq, prev_hash = 0, 0, GENESIS
    anchored: str | None = None

    def verdict(problem: Problem | None) -> Verdict:
        return Verdict(count, prev_hash, key is not None, problem)

    for r in rows:
        seq = r["seq"]
        if seq != prev_seq + 1:
            if prev_seq == 0:
                why = f"the log starts at seq {seq}: entries 1..{seq - 1} were removed"
            else:
                why = f"gap in seq: entries {prev_seq + 1}..{seq - 1} are missing"
            return verdict(Problem(seq, why))
        if entry_hash(r) != r["hash"]:
            return verdict(Problem(seq, _mismatch(r)))
        if r["prev_hash"] != prev_hash:
            return verdict(
                Problem(
                    seq,
                    f"broken link: prev_hash is not the hash of entry {prev_seq} "
                    "(an entry before it was inserted, replaced or changed)",
                )
            )
        count, prev_seq, prev_hash = count + 1, seq, r["hash"]
        if anchor is not None and seq == anchor[0]:
            anchored = r["hash"]

    if head["seq"] > prev_seq:
        return verdict(
            Problem(
                prev_seq + 1,
                f"truncated: the head records {head['seq']} entries but the log ends at "
                f"seq {prev_seq}",
            )
        )
    if head["seq"] != prev_seq or head["hash"] != prev_hash:
        return verdict(
            Problem(
                0,
                f"head mismatch: the head records seq {head['seq']} hash {head['hash'][:16]}, "
                f"the log ends at seq {prev_seq} hash {prev_hash[:16]} "
                "(entries appended or rewritten outside the log)",
            )
        )
    if key is not None and prev_seq > 0:
        sig = head.get("signature")
        if not sig:
            return verdict(Problem(0, "the head is not signed, but an audit key is set"))
        if not hmac.compare_digest(sig, head_signature(key, prev_seq, prev_hash)):
            return verdict(
                Problem(0, "bad head signature (head or chain rewritten without the audit key)")
            )
    if anchor is not None and anchored != anchor[1]:
        seq, want = anchor
        why = (
            f"anchor: entry seq {seq} is missing (the log was cut)"
            if anchored is None
            else f"anchor: entry seq {seq} has hash {anchored[:16]}…, not the anchored "
            f"{want[:16]}… (the chain was rewritten)"
        )
        return verdict(Problem(seq, why))
    return verdict(None)


def _mismatch(r: dict[str, Any]) -> str:
    # An entry whose hash is right for another position was moved (rows reordered, or seqs
    # shifted to make room for an inserted or over a removed entry), which is worth telling
    # apart from an edit. Only the neighbourhood is tried: this runs once, on failure.
    seq = r["seq"]
    for moved in range(max(1, seq - _MOVE_WINDOW), seq + _MOVE_WINDOW + 1):
        if moved != seq and entry_hash({**r, "seq": moved}) == r["hash"]:
            return (
                f"reordered: this entry was written as seq {moved} "
                "(entries reordered, inserted or removed)"
            )
    return "hash mismatch: the entry was changed after it was written"
