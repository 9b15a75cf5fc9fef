"""The trace store's tenant filter, on SQLite and PostgreSQL: a read for one tenant never
returns another's trace, paging stays inside the tenant (another tenant's id as the cursor
pages nothing), and m0015's index serves the filter. Each case writes through one engine and
reads through another, as two gateway processes over one store do. (A whole gateway does not
run on PostgreSQL yet: its full-text index is SQLite's, so the HTTP suite runs on SQLite.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, inspect, select

from lockgate.crypto.factory import build_cipher
from lockgate.store import tables as tb
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from lockgate.store.privacy import PrivacyStore, Retention
from lockgate.store.reviews import ReviewStore
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'traces.db'}"
        first, second = make_engine(url), make_engine(url)
        migrate(first)
        yield first, second
        first.dispose()
        second.dispose()
        return
    with throwaway_database("traces") as first:
        migrate(first)
        second = make_engine(first.url.render_as_string(hide_password=False))
        try:
            yield first, second
        finally:
            second.dispose()


def _row(trace_id: str, tenant: str, at: float) -> dict[str, object]:
    return {
        "id": trace_id,
        "created_at": at,
        "principal": f"{tenant}-caller",
        "tenant": tenant,
        "endpoint": "/v1/chat/completions",
        "stream": 0,
        "status": "ok",
        "degraded": 0,
        "output": f"secret of {tenant}",
    }


@pytest.fixture
def stores(engines: tuple[Engine, Engine]) -> tuple[TraceStore, TraceStore]:
    writer, reader = TraceStore(engines[0]), TraceStore(engines[1])
    # Interleaved in time, with two traces at the same instant (the cursor's tie-break).
    for i in range(6):
        writer.record(_row(f"a{i:031d}", "a", 1000.0 + i))
        writer.record(_row(f"b{i:031d}", "b", 1000.0 + i + 0.5))
    writer.record(_row("a" + "9" * 31, "a", 1005.0))
    return writer, reader


def test_get_is_filtered_by_tenant(stores: tuple[TraceStore, TraceStore]) -> None:
    _, reader = stores
    a_id, b_id = f"a{0:031d}", f"b{0:031d}"
    assert reader.get(a_id, "a")["output"] == "secret of a"  # type: ignore[index]
    assert reader.get(a_id, "b") is None
    assert reader.get(b_id, "a") is None
    assert reader.get(b_id) is not None  # no tenant: the host's operator
    assert reader.get("nope", "a") is None


def test_list_and_paging_stay_within_the_tenant(stores: tuple[TraceStore, TraceStore]) -> None:
    _, reader = stores
    every = [r["id"] for r in reader.list(100, tenant="a")]
    assert len(every) == 7 and all(i.startswith("a") for i in every)
    paged: list[str] = []
    after = None
    while True:
        page = reader.list(2, after, tenant="a")
        paged += [r["id"] for r in page]
        if len(page) < 2:
            break
        after = page[-1]["id"]
    assert paged == every  # newest first, nothing twice or skipped at the tie
    for b_id in (r["id"] for r in reader.list(100, tenant="b")):
        assert reader.list(100, b_id, tenant="a") == []
    assert {r["tenant"] for r in reader.list(100)} == {"a", "b"}


def test_m0015_indexes_traces_by_tenant(engines: tuple[Engine, Engine]) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(engines[1]).get_indexes("traces")}
    assert indexes["ix_traces_tenant_created"] == ["tenant", "created_at"]


def _chunks(*acls: list[str]) -> list[dict[str, object]]:
    return [
        {"chunk_id": i, "document_id": i, "source": f"doc{i}", "groups": acl}
        for i, acl in enumerate(acls)
    ]


@pytest.fixture
def restricted(engines: tuple[Engine, Engine]) -> TraceStore:
    """Tenant a: an open trace, one that retrieved an hr chunk (besides open ones), one that
    retrieved chunks of [hr] and of [legal]; and b's trace with an hr chunk."""
    writer = TraceStore(engines[0])
    for trace_id, tenant, at, retrieved in (
        ("open", "a", 1.0, _chunks([], [])),
        ("hr", "a", 2.0, _chunks([], ["hr"], ["hr"])),
        ("both", "a", 3.0, _chunks(["hr"], ["legal"], [])),
        ("either", "a", 4.0, _chunks(["hr", "legal"])),
        ("b-hr", "b", 5.0, _chunks(["hr"])),
    ):
        writer.record({**_row(trace_id, tenant, at), "retrieved": retrieved})
    return TraceStore(engines[1])


def _seen(store: TraceStore, groups: tuple[str, ...] | None, tenant: str | None = "a") -> set:
    listed = {r["id"] for r in store.list(100, tenant=tenant, groups=groups)}
    got = {i for i in ("open", "hr", "both", "either", "b-hr") if store.get(i, tenant, groups)}
    assert listed == got  # the list and the detail agree
    return got


def test_group_restricted_traces_need_every_group(restricted: TraceStore) -> None:
    assert _seen(restricted, ()) == {"open"}
    assert _seen(restricted, ("sales",)) == {"open"}
    assert _seen(restricted, ("hr",)) == {"open", "hr", "either"}
    assert _seen(restricted, ("legal",)) == {"open", "either"}
    assert _seen(restricted, ("hr", "legal")) == {"open", "hr", "both", "either"}
    # No group check (admins of the tenant, the host's operator): everything they may read.
    assert _seen(restricted, None) == {"open", "hr", "both", "either"}
    assert _seen(restricted, None, tenant=None) == {"open", "hr", "both", "either", "b-hr"}
    assert restricted.get("hr", "a", ()) is None
    assert restricted.get("hr", "a", ("hr",))["output"] == "secret of a"  # type: ignore[index]
    # A hidden trace's id as the cursor pages nothing.
    assert restricted.list(100, "both", tenant="a", groups=("hr",)) == []
    assert [r["id"] for r in restricted.list(100, "both", "a", ("hr", "legal"))] == [
        "hr",
        "open",
    ]


def test_the_acl_rows_of_a_trace(restricted: TraceStore) -> None:
    with restricted.engine.connect() as conn:
        rows = conn.execute(
            select(tb.trace_acl.c.trace_id, tb.trace_acl.c.req, tb.trace_acl.c.grp)
        ).all()
    by_trace: dict[str, dict[int, set[str]]] = {}
    for trace_id, req, grp in rows:
        by_trace.setdefault(trace_id, {}).setdefault(req, set()).add(grp)
    assert "open" not in by_trace
    assert sorted(by_trace["hr"].values(), key=sorted) == [{"hr"}]  # one req for repeats
    assert sorted(by_trace["both"].values(), key=sorted) == [{"hr"}, {"legal"}]
    assert list(by_trace["either"].values()) == [{"hr", "legal"}]
    indexes = {
        i["name"]: i["column_names"] for i in inspect(restricted.engine).get_indexes("trace_acl")
    }
    assert indexes["ix_trace_acl_trace"] == ["trace_id"]


def test_forget_and_purge_take_the_acl_rows_with_the_traces(restricted: TraceStore) -> None:
    engine = restricted.engine
    privacy = PrivacyStore(engine, restricted, ReviewStore(engine))

    def acl_of() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(select(tb.trace_acl.c.trace_id)).scalars())

    assert acl_of() == {"hr", "both", "either", "b-hr"}
    assert privacy.forget("b-caller")["trace_acl"] == 1
    assert acl_of() == {"hr", "both", "either"}
    # Traces older than a day go, with their rows (created_at is epoch 2.0..4.0 here).
    keep = Retention(86400.0, None, None, None, None, None)
    counts = privacy.purge(keep, now=3.5 + 86400.0)
    assert counts["traces"] == 3 and counts["trace_acl"] == 3
    assert acl_of() == {"either"}


def test_search_filters_inside_the_tenant(engines: tuple[Engine, Engine]) -> None:
    writer, reader = TraceStore(engines[0]), TraceStore(engines[1])
    for i, (tenant, model, status, ms) in enumerate(
        [("acme", "echo", "ok", 50.0), ("acme", "big", "error", 900.0),
         ("acme", "echo", "ok", 700.0), ("globex", "echo", "ok", 800.0)]
    ):
        row = _row(f"s{i}", tenant, 1000.0 + i)
        writer.record({**row, "model": model, "status": status, "latency_ms": ms})
    ids = lambda **kw: [r["id"] for r in reader.search("acme", **kw)]  # noqa: E731
    assert ids() == ["s2", "s1", "s0"]
    assert ids(model="echo") == ["s2", "s0"] and ids(status="error") == ["s1"]
    assert ids(min_latency_ms=600) == ["s2", "s1"] and ids(since=1001.5) == ["s2"]
    assert ids(text="ACME-CALL") == ["s2", "s1", "s0"]  # case-insensitive substring
    assert ids(text="s1") == ["s1"] and ids(text="%") == ["s2", "s1", "s0"]
    assert ids(limit=1, offset=1) == ["s1"]
    assert [r["id"] for r in reader.search(None, min_latency_ms=750)] == ["s3", "s1"]
    assert "output" not in reader.search("acme")[0]  # metadata only


# -- group commit -------------------------------------------------------------------------------


def test_record_many_writes_a_batch_in_one_transaction(
    engines: tuple[Engine, Engine], tmp_path: Path
) -> None:
    keys = SqlDataKeyStore(engines[0])
    cipher = build_cipher(True, "LOCKGATE_TEST_NO_KEY", tmp_path / "master.key", True, None, keys)
    writer, reader = TraceStore(engines[0], cipher), TraceStore(engines[1], cipher)
    writer.record(_row("warm", "a", 1.0))  # the tenants' data keys are made on first use
    writer.record(_row("warm-b", "b", 1.0))
    commits: list[int] = []
    event.listen(engines[0], "commit", lambda conn: commits.append(1))
    rows = [
        _row("plain", "a", 10.0),
        {**_row("restricted", "a", 11.0), "retrieved": _chunks(["hr"], ["legal"])},
        # Another set of columns (a call that records fewer), another tenant's data key.
        {k: v for k, v in _row("short", "b", 12.0).items() if k != "output"},
        {**_row("with-json", "b", 13.0), "stages": [{"stage": "call_model", "ms": 1.5}]},
    ]
    writer.record_many(rows)
    assert len(commits) == 1
    assert reader.get("plain", "a")["output"] == "secret of a"  # type: ignore[index]
    assert reader.get("short", "b")["output"] is None  # type: ignore[index]
    assert reader.get("with-json", "b")["stages"] == [{"stage": "call_model", "ms": 1.5}]  # type: ignore[index]
    assert reader.get("restricted", "a", ("hr",)) is None  # needs legal too
    assert reader.get("restricted", "a", ("hr", "legal")) is not None
    with engines[1].connect() as conn:
        sealed = conn.execute(select(tb.traces.c.output).where(tb.traces.c.id == "plain"))
        assert "secret" not in sealed.scalar_one()  # encrypted at rest, batch or not


def test_record_many_is_all_or_none(engines: tuple[Engine, Engine]) -> None:
    writer, reader = TraceStore(engines[0]), TraceStore(engines[1])
    writer.record(_row("taken", "a", 1.0))
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error, whichever
        writer.record_many([_row("first", "a", 2.0), _row("taken", "a", 3.0)])
    assert reader.get("first") is None
    writer.record_many([])  # nothing to do, no transaction
