"""The hash-chained audit log on a real store: the chain it builds, and every way of tampering
with it through raw SQL (edit any column, delete in the middle or at the tail, insert, reorder,
rewrite the chain, cut the tail and the head together) found by `verify`, which names the
first bad entry. Concurrent writers, threads and processes, leave one chain without a fork.
Runs on SQLite always and on PostgreSQL when a server is at 127.0.0.1:5432."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from lockgate.store.audit import GENESIS, AuditLog, entry_hash, head_signature
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database

SRC = Path(__file__).resolve().parents[2] / "src"
KEY = b"audit-test-key"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    with pg_database() as eng:
        migrate(eng)
        yield eng


def pg_database() -> Any:
    return throwaway_database("audit")


def filled(engine: Engine, key: bytes | None = None, n: int = 5) -> AuditLog:
    log = AuditLog(engine, key)
    for i in range(1, n + 1):
        log.append(
            "document.access",
            {"chunks": [{"chunk_id": i}], "i": i},
            actor=f"user-{i}",
            tenant="acme",
            ref=f"trace-{i}",
        )
    return log


def sql(engine: Engine, stmt: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(stmt), params)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM audit_log ORDER BY seq"))
        return [dict(r._mapping) for r in found]


def move(engine: Engine, old: int, new: int) -> None:
    sql(engine, "UPDATE audit_log SET seq = :new WHERE seq = :old", old=old, new=new)


# -- the chain --------------------------------------------------------------------------------


def test_each_entry_hashes_its_columns_and_links_to_the_one_before(engine: Engine) -> None:
    log = filled(engine)
    chain = rows(engine)
    assert [r["seq"] for r in chain] == [1, 2, 3, 4, 5]
    assert chain[0]["prev_hash"] == GENESIS
    for before, entry in zip(chain, chain[1:], strict=False):
        assert entry["prev_hash"] == before["hash"]
    for r in chain:
        # Recomputed here from the documented recipe, not through the module's helper.
        body = {k: r[k] for k in ("seq", "created_at", "kind", "actor", "tenant", "ref")}
        body |= {"data": r["data"], "prev_hash": r["prev_hash"]}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert r["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert json.loads(chain[2]["data"]) == {"chunks": [{"chunk_id": 3}], "i": 3}
    head = log.head()
    assert (head["seq"], head["hash"], head["signature"]) == (5, chain[-1]["hash"], None)
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5 and verdict.head == chain[-1]["hash"]


def test_an_empty_log_verifies(engine: Engine) -> None:
    verdict = AuditLog(engine).verify()
    assert verdict.ok and verdict.entries == 0 and verdict.head == GENESIS


def test_secrets_never_reach_the_log(engine: Engine) -> None:
    log = AuditLog(engine)
    log.append(
        "key.created",
        {"key_id": "k1", "prefix": "lg_ab", "key": "lg_abSECRET", "nested": {"api_key": "x"}},
    )
    stored = rows(engine)[0]["data"]
    assert "SECRET" not in stored and '"x"' not in stored
    assert json.loads(stored) == {
        "key_id": "k1",
        "prefix": "lg_ab",
        "key": "****",
        "nested": {"api_key": "****"},
    }


def test_a_signed_head_carries_an_hmac_of_seq_and_hash(engine: Engine) -> None:
    log = filled(engine, KEY)
    head = log.head()
    assert head["signature"] == head_signature(KEY, 5, head["hash"])
    assert log.verify().ok and log.verify().signed
    wrong = AuditLog(engine, b"another key").verify()
    assert not wrong.ok and wrong.problem is not None and "signature" in wrong.problem.reason
    unsigned = filled(engine, None, 1)  # written by a process without the key
    problem = AuditLog(engine, KEY).verify().problem
    assert problem is not None and "not signed" in problem.reason
    assert unsigned.verify().ok


# -- tampering ----------------------------------------------------------------------------------

EDITS = {
    "created_at": "created_at = created_at + 1",
    "kind": "kind = 'export'",
    "actor": "actor = 'someone-else'",
    "actor_null": "actor = NULL",
    "tenant": "tenant = 'other'",
    "ref": "ref = 'trace-x'",
    "data": "data = REPLACE(data, '3', '4')",
    "prev_hash": f"prev_hash = '{'1' * 64}'",
    "hash": f"hash = '{'2' * 64}'",
}


@pytest.mark.parametrize("column", sorted(EDITS))
def test_editing_any_column_names_that_entry(engine: Engine, column: str) -> None:
    log = filled(engine)
    sql(engine, f"UPDATE audit_log SET {EDITS[column]} WHERE seq = 3")
    verdict = log.verify()
    assert verdict.problem is not None and verdict.problem.seq == 3
    assert verdict.entries == 2  # the two before it still check out
    assert "hash mismatch" in verdict.problem.reason


def test_editing_and_rehashing_one_entry_breaks_the_next_link(engine: Engine) -> None:
    log = filled(engine)
    third = rows(engine)[2]
    forged = {**third, "actor": "mallory"}
    sql(
        engine,
        "UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 3",
        h=entry_hash(forged),
    )
    problem = log.verify().problem
    assert problem is not None and problem.seq == 4 and "broken link" in problem.reason


def test_changing_seq_is_found(engine: Engine) -> None:
    log = filled(engine)
    move(engine, 3, 30)
    problem = log.verify().problem
    assert problem is not None and problem.seq == 4 and "gap" in problem.reason


def test_deleting_a_middle_entry_is_a_gap(engine: Engine) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq = 3")
    problem = log.verify().problem
    assert problem is not None and problem.seq == 4 and "3..3 are missing" in problem.reason


def test_deleting_the_first_entry_is_found(engine: Engine) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq = 1")
    problem = log.verify().problem
    assert problem is not None and problem.seq == 2 and "removed" in problem.reason


def test_deleting_and_renumbering_is_found(engine: Engine) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq = 3")
    move(engine, 4, 3)
    move(engine, 5, 4)
    sql(engine, "UPDATE audit_head SET seq = 4")
    problem = log.verify().problem
    assert problem is not None and problem.seq == 3
    assert "reordered: this entry was written as seq 4" in problem.reason


@pytest.mark.parametrize("cut", [1, 3])
def test_truncating_the_tail_is_found_by_the_head(engine: Engine, cut: int) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq > :keep", keep=5 - cut)
    verdict = log.verify()
    assert verdict.problem is not None and verdict.problem.seq == 6 - cut
    assert "truncated" in verdict.problem.reason and verdict.entries == 5 - cut


def test_truncating_everything_is_found_by_the_head(engine: Engine) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log")
    problem = log.verify().problem
    assert problem is not None and problem.seq == 1 and "truncated" in problem.reason


def test_truncating_tail_and_head_together_needs_the_key(engine: Engine) -> None:
    log = filled(engine, KEY)
    keep = rows(engine)[2]
    sql(engine, "DELETE FROM audit_log WHERE seq > 3")
    sql(engine, "UPDATE audit_head SET seq = 3, hash = :h", h=keep["hash"])
    problem = log.verify().problem
    assert problem is not None and problem.seq == 0 and "bad head signature" in problem.reason


def _forge(engine: Engine, seq: int, prev_hash: str) -> dict[str, Any]:
    row = {
        "seq": seq,
        "created_at": 1.5e9,
        "kind": "review.decision",
        "actor": "mallory",
        "tenant": "acme",
        "ref": None,
        "data": "{}",
        "prev_hash": prev_hash,
    }
    row["hash"] = entry_hash(row)
    sql(
        engine,
        "INSERT INTO audit_log (seq, created_at, kind, actor, tenant, ref, data, prev_hash, hash) "
        "VALUES (:seq, :created_at, :kind, :actor, :tenant, :ref, :data, :prev_hash, :hash)",
        **row,
    )
    return row


def _make_room_at_3(engine: Engine) -> list[dict[str, Any]]:
    chain = rows(engine)
    for seq in (5, 4, 3):  # from the top, so no seq collides on the way
        move(engine, seq, seq + 1)
    return chain


def test_inserting_in_the_middle_on_the_true_predecessor_is_refused(engine: Engine) -> None:
    filled(engine)
    chain = _make_room_at_3(engine)
    with pytest.raises(DBAPIError):  # entry 3, now at 4, already claims entry 2
        _forge(engine, 3, chain[1]["hash"])


def test_inserting_in_the_middle_is_found(engine: Engine) -> None:
    log = filled(engine)
    _make_room_at_3(engine)
    _forge(engine, 3, "5" * 64)
    problem = log.verify().problem
    assert problem is not None and problem.seq == 3 and "broken link" in problem.reason


def test_inserting_in_the_middle_and_relinking_is_found(engine: Engine) -> None:
    log = filled(engine)
    chain = _make_room_at_3(engine)
    probe = {**chain[0], "seq": 3, "created_at": 1.5e9, "kind": "review.decision"}
    probe |= {"actor": "mallory", "ref": None, "data": "{}", "prev_hash": chain[1]["hash"]}
    # The entry after it must give up its link first, the prev_hash being unique.
    sql(engine, "UPDATE audit_log SET prev_hash = :h WHERE seq = 4", h=entry_hash(probe))
    _forge(engine, 3, chain[1]["hash"])
    problem = log.verify().problem
    assert problem is not None and problem.seq == 4 and "hash mismatch" in problem.reason


def test_inserting_a_junk_entry_is_found(engine: Engine) -> None:
    log = filled(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq = 5")
    sql(
        engine,
        "INSERT INTO audit_log (seq, created_at, kind, data, prev_hash, hash) "
        "VALUES (5, 1, 'export', '{}', :p, :h)",
        p="3" * 64,
        h="4" * 64,
    )
    problem = log.verify().problem
    assert problem is not None and problem.seq == 5 and "hash mismatch" in problem.reason


def test_appending_a_well_formed_entry_outside_the_log_is_found(engine: Engine) -> None:
    log = filled(engine)
    _forge(engine, 6, rows(engine)[-1]["hash"])
    problem = log.verify().problem
    assert problem is not None and problem.seq == 0 and "head mismatch" in problem.reason


def test_appending_outside_the_log_and_moving_the_head_needs_the_key(engine: Engine) -> None:
    log = filled(engine, KEY)
    forged = _forge(engine, 6, rows(engine)[-1]["hash"])
    sql(engine, "UPDATE audit_head SET seq = 6, hash = :h", h=forged["hash"])
    problem = log.verify().problem
    assert problem is not None and problem.seq == 0 and "bad head signature" in problem.reason


def test_reordering_two_entries_is_found(engine: Engine) -> None:
    log = filled(engine)
    move(engine, 2, -1)
    move(engine, 4, 2)
    move(engine, -1, 4)
    problem = log.verify().problem
    assert problem is not None and problem.seq == 2
    assert "reordered: this entry was written as seq 4" in problem.reason


def test_rewriting_the_whole_chain_with_fresh_hashes_needs_the_key(engine: Engine) -> None:
    log = filled(engine, KEY)
    prev = GENESIS
    for r in rows(engine):
        r = {**r, "prev_hash": prev}
        if r["seq"] == 2:
            r["actor"] = "mallory"
        r["hash"] = entry_hash(r)
        sql(
            engine,
            "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=r["actor"],
            p=r["prev_hash"],
            h=r["hash"],
            s=r["seq"],
        )
        prev = r["hash"]
    sql(engine, "UPDATE audit_head SET hash = :h", h=prev)
    assert AuditLog(engine).verify().ok  # without the key, a full rewrite is consistent ...
    problem = log.verify().problem  # ... with it, the head gives it away
    assert problem is not None and problem.seq == 0 and "bad head signature" in problem.reason


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_threads_append_one_chain(engine: Engine) -> None:
    log = AuditLog(engine, KEY)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                log.append("test.concurrent", {"writer": n, "i": i}, actor=f"w{n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert verdict.entries == 160 and [r["seq"] for r in rows(engine)] == list(range(1, 161))


_CHILD = """
import sys
from lockgate.store.audit import AuditLog
from lockgate.store.db import make_engine
log = AuditLog(make_engine(sys.argv[1]), b"audit-test-key")
sys.stdin.readline()  # start together with the other writers
for i in range(40):
    log.append("test.process", {"pid": sys.argv[2], "i": i}, actor=sys.argv[2])
"""


def test_two_processes_and_a_thread_append_one_chain(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, f"p{n}"], stdin=subprocess.PIPE, env=env
        )
        for n in range(2)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
    log = AuditLog(engine, KEY)
    for i in range(40):
        log.append("test.process", {"pid": "parent", "i": i}, actor="parent")
    for child in children:
        assert child.wait(timeout=120) == 0
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert verdict.entries == 120
    by_actor = {a: sum(1 for r in rows(engine) if r["actor"] == a) for a in ("p0", "p1", "parent")}
    assert by_actor == {"p0": 40, "p1": 40, "parent": 40}


def test_a_batch_is_chained_in_order_under_one_lock(engine: Engine) -> None:
    log = filled(engine, KEY, n=2)
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    batch = [
        {"kind": "document.access", "data": {"i": i, "api_key": "sk-1"}, "actor": f"u{i}"}
        for i in range(5)
    ]
    rows_written = log.append_many(batch)
    assert len(commits) == 1
    assert [r["seq"] for r in rows_written] == [3, 4, 5, 6, 7]
    stored = rows(engine)
    assert [r["actor"] for r in stored[2:]] == [f"u{i}" for i in range(5)]
    assert all(r["prev_hash"] == p["hash"] for p, r in zip(stored, stored[1:], strict=False))
    assert all("sk-1" not in r["data"] for r in stored)  # scrubbed like a single append
    head = log.head()
    assert (head["seq"], head["hash"]) == (7, stored[-1]["hash"])
    assert log.verify().ok and log.append_many([]) == []


def test_batches_and_single_appends_from_threads_make_one_chain(engine: Engine) -> None:
    log = AuditLog(engine, KEY)
    errors: list[BaseException] = []

    def batches(n: int) -> None:
        try:
            for b in range(10):
                log.append_many(
                    [
                        {"kind": "test.batch", "data": {"b": b, "i": i}, "actor": f"b{n}"}
                        for i in range(4)
                    ]
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def singles() -> None:
        try:
            for i in range(20):
                log.append("test.single", {"i": i}, actor="single")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=batches, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=singles))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = log.verify()
    assert verdict.ok, verdict.problem
    assert verdict.entries == 3 * 40 + 20
    stored = rows(engine)
    for n in range(3):  # each batch's entries are consecutive, and batches keep their order
        mine = [r for r in stored if r["actor"] == f"b{n}"]
        seqs = [r["seq"] for r in mine]
        order = [(json.loads(r["data"])["b"], json.loads(r["data"])["i"]) for r in mine]
        assert order == [(b, i) for b in range(10) for i in range(4)]
        assert all(seqs[k + 3] - seqs[k] == 3 for k in range(0, 40, 4))


def test_a_second_entry_on_the_same_predecessor_is_refused(engine: Engine) -> None:
    filled(engine, n=2)
    with pytest.raises(DBAPIError):
        _forge(engine, 3, rows(engine)[0]["hash"])  # a fork off entry 1


# -- reading ----------------------------------------------------------------------------------


def test_entries_filter_by_time_and_kind(engine: Engine) -> None:
    log = AuditLog(engine)
    for t, kind in ((100.0, "auth.success"), (200.0, "auth.failure"), (300.0, "export")):
        log.append(kind, {}, created_at=t)
    assert [r["kind"] for r in log.entries(since=150)] == ["auth.failure", "export"]
    assert [r["kind"] for r in log.entries(since=100, until=300)] == [
        "auth.success",
        "auth.failure",
    ]
    assert [r["created_at"] for r in log.entries(kinds=["export", "auth.success"])] == [
        100.0,
        300.0,
    ]
    assert [r["seq"] for r in log.entries(limit=2, newest_first=True)] == [3, 2]
    assert log.last("auth.failure") is not None and log.last("deletion") is None
    assert log.verify().ok
