"""The prompt registry's rows: immutable versions, movable labels and each label's history.

A version is written once and never changed; its `seq` counts 1, 2, 3 per name and its
`hash` is the SHA-256 of the canonical content, so the same content pushed twice is the same
version. Writers are safe across processes: writers of one name take turns (SQLite's write lock, a
PostgreSQL advisory lock), and the unique (name, seq) and (name, hash) indexes turn any
second insert that slips through into a conflict, retried or read as "already there".
Labels are global (not per tenant): a prompt is part of the deployment, like its config."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from lockgate.store import tables as tb
from lockgate.store.db import transaction

LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_RETRIES = 5  # concurrent pushes of one name collide on (name, seq); each retry reads anew


class PromptNotFound(LookupError):
    """No such prompt, version or label; the message says which."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "prompt not found"


class PromptInputError(ValueError):
    """A request the registry refuses (a bad label name, no earlier version to roll back to)."""


@dataclass(frozen=True)
class PromptVersion:
    name: str
    seq: int
    hash: str
    content: str  # the canonical JSON of the spec (lockgate.prompts.spec)
    created_at: float
    created_by: str | None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.seq,
            "hash": self.hash,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class PushResult:
    name: str
    seq: int
    hash: str
    created: bool  # False: the content was already stored (as version `seq`)


@dataclass(frozen=True)
class LabelMove:
    name: str
    label: str
    from_seq: int | None
    to_seq: int
    changed: bool


@dataclass(frozen=True)
class PromptSummary:
    name: str
    latest: int
    labels: dict[str, int]


def _version(row: Any) -> PromptVersion:
    return PromptVersion(
        row.name, int(row.seq), row.hash, row.content, row.created_at, row.created_by
    )


def _serialise(conn: Connection, name: str) -> None:
    """Writers of one prompt name take turns. SQLite's writers already do (BEGIN IMMEDIATE);
    on PostgreSQL a transaction-scoped advisory lock on the name keeps concurrent pushes from
    racing for the same next number (the unique index would still catch one that did)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def check_label(label: str) -> str:
    if not LABEL.match(label) or len(label) > 64:
        raise PromptInputError(f"label '{label}' must match [a-z0-9][a-z0-9_-]* (64 at most)")
    return label


class PromptStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- versions ---------------------------------------------------------------------------
    def push(self, name: str, digest: str, content: str, actor: str | None = None) -> PushResult:
        """Store `content` (whose SHA-256 is `digest`) as the next version of `name`, or
        report the version that already holds this content."""
        v = tb.prompt_versions
        for attempt in range(_RETRIES):
            try:
                with transaction(self.engine) as conn:
                    _serialise(conn, name)
                    same = conn.execute(
                        select(v.c.seq).where(v.c.name == name, v.c.hash == digest)
                    ).first()
                    if same is not None:
                        return PushResult(name, int(same.seq), digest, False)
                    top = conn.execute(select(func.max(v.c.seq)).where(v.c.name == name)).scalar()
                    seq = int(top or 0) + 1
                    self._insert(conn, name, seq, digest, content, actor)
                    return PushResult(name, seq, digest, True)
            except IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _insert(
        conn: Connection, name: str, seq: int, digest: str, content: str, actor: str | None
    ) -> None:
        conn.execute(
            insert(tb.prompt_versions).values(
                name=name,
                seq=seq,
                hash=digest,
                content=content,
                created_at=time.time(),
                created_by=actor,
            )
        )

    def seed(self, name: str, digest: str, content: str, label: str = "production") -> bool:
        """Make `content` version 1 of its name, with `label` on it, when the name has no version
        yet; True when this call did it. Safe to call from every process at every start."""
        v = tb.prompt_versions
        with self.engine.connect() as conn:
            if conn.execute(select(v.c.seq).where(v.c.name == name).limit(1)).first():
                return False
        try:
            with transaction(self.engine) as conn:
                _serialise(conn, name)
                if conn.execute(select(v.c.seq).where(v.c.name == name).limit(1)).first():
                    return False
                self._insert(conn, name, 1, digest, content, "builtin")
                self._move(conn, name, label, None, 1, "seed", "builtin")
        except IntegrityError:
            return False  # another process seeded it first
        return True

    def get(self, name: str, seq: int) -> PromptVersion:
        v = tb.prompt_versions
        with self.engine.connect() as conn:
            row = conn.execute(select(v).where(v.c.name == name, v.c.seq == seq)).first()
        if row is None:
            self._missing(name)
            raise PromptNotFound(f"prompt '{name}' has no version {seq}")
        return _version(row)

    def latest(self, name: str) -> PromptVersion:
        v = tb.prompt_versions
        with self.engine.connect() as conn:
            row = conn.execute(
                select(v).where(v.c.name == name).order_by(v.c.seq.desc()).limit(1)
            ).first()
        if row is None:
            raise PromptNotFound(f"no prompt named '{name}'")
        return _version(row)

    def versions(self, name: str) -> list[PromptVersion]:
        v = tb.prompt_versions
        with self.engine.connect() as conn:
            rows = conn.execute(select(v).where(v.c.name == name).order_by(v.c.seq)).all()
        return [_version(r) for r in rows]

    def summaries(self) -> list[PromptSummary]:
        v, lb = tb.prompt_versions, tb.prompt_labels
        with self.engine.connect() as conn:
            latest = conn.execute(
                select(v.c.name, func.max(v.c.seq)).group_by(v.c.name).order_by(v.c.name)
            ).all()
            labels = conn.execute(select(lb.c.name, lb.c.label, lb.c.seq)).all()
        by_name: dict[str, dict[str, int]] = {}
        for row in labels:
            by_name.setdefault(row.name, {})[row.label] = int(row.seq)
        return [
            PromptSummary(name, int(top), dict(sorted(by_name.get(name, {}).items())))
            for name, top in latest
        ]

    def _missing(self, name: str) -> None:
        v = tb.prompt_versions
        with self.engine.connect() as conn:
            found = conn.execute(select(v.c.seq).where(v.c.name == name).limit(1)).first()
        if found is None:
            raise PromptNotFound(f"no prompt named '{name}'")

    # -- labels -----------------------------------------------------------------------------
    def labels(self, name: str) -> dict[str, int]:
        lb = tb.prompt_labels
        with self.engine.connect() as conn:
            rows = conn.execute(select(lb.c.label, lb.c.seq).where(lb.c.name == name)).all()
        return {r.label: int(r.seq) for r in sorted(rows)}

    def label_seq(self, name: str, label: str) -> int:
        lb = tb.prompt_labels
        with self.engine.connect() as conn:
            seq = conn.execute(
                select(lb.c.seq).where(lb.c.name == name, lb.c.label == label)
            ).scalar()
        if seq is None:
            self._missing(name)
            raise PromptNotFound(f"prompt '{name}' has no label '{label}'")
        return int(seq)

    def set_label(self, name: str, label: str, seq: int, actor: str | None = None) -> LabelMove:
        """Point `label` at version `seq` (which must exist)."""
        check_label(label)
        self.get(name, seq)  # PromptNotFound naming the prompt or the version
        for attempt in range(_RETRIES):
            try:
                with transaction(self.engine) as conn:
                    _serialise(conn, name)
                    current = self._current(conn, name, label)
                    if current == seq:
                        return LabelMove(name, label, current, seq, False)
                    self._move(conn, name, label, current, seq, "label", actor)
                return LabelMove(name, label, current, seq, True)
            except IntegrityError:
                # Two first moves of one label at once: the other one created it; read again.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def rollback(self, name: str, label: str, actor: str | None = None) -> LabelMove:
        """Move `label` back to the version it pointed at before its last move. Repeated,
        it walks further back; PromptInputError when there is no earlier version."""
        check_label(label)
        h = tb.prompt_label_history
        with transaction(self.engine) as conn:
            _serialise(conn, name)
            current = self._current(conn, name, label)
            if current is None:
                self._missing(name)
                raise PromptNotFound(f"prompt '{name}' has no label '{label}'")
            moves = conn.execute(
                select(h.c.action, h.c.to_seq)
                .where(h.c.name == name, h.c.label == label)
                .order_by(h.c.id)
            ).all()
            # The label's positions as a stack: a move pushes, a rollback pops.
            stack: list[int] = []
            for action, to_seq in moves:
                if action == "rollback":
                    if stack:
                        stack.pop()
                else:
                    stack.append(int(to_seq))
            if len(stack) < 2:
                raise PromptInputError(
                    f"label '{label}' of prompt '{name}' has no earlier version to roll back "
                    f"to (it is at version {current})"
                )
            target = stack[-2]
            self._move(conn, name, label, current, target, "rollback", actor)
        return LabelMove(name, label, current, target, True)

    @staticmethod
    def _current(conn: Connection, name: str, label: str) -> int | None:
        lb = tb.prompt_labels
        seq = conn.execute(
            select(lb.c.seq).where(lb.c.name == name, lb.c.label == label).with_for_update()
        ).scalar()
        return None if seq is None else int(seq)

    @staticmethod
    def _move(
        conn: Connection,
        name: str,
        label: str,
        from_seq: int | None,
        to_seq: int,
        action: str,
        actor: str | None,
    ) -> None:
        lb, now = tb.prompt_labels, time.time()
        if from_seq is None:
            conn.execute(
                insert(lb).values(
                    name=name, label=label, seq=to_seq, updated_at=now, updated_by=actor
                )
            )
        else:
            conn.execute(
                update(lb)
                .where(lb.c.name == name, lb.c.label == label)
                .values(seq=to_seq, updated_at=now, updated_by=actor)
            )
        conn.execute(
            insert(tb.prompt_label_history).values(
                name=name,
                label=label,
                action=action,
                from_seq=from_seq,
                to_seq=to_seq,
                created_at=now,
                actor=actor,
            )
        )
