"""The trace store's tenant filter, on SQLite and PostgreSQL: a read for one tenant never
returns another's trace, paging stays inside the tenant (another tenant's id as the cursor
pages nothing), and m0015's index serves the filter. Each case writes through one engine and
reads through another, as two gateway processes over one store do. (A whole gateway does not
run on PostgreSQL yet: its full-text index is SQLite's, so the HTTP suite runs on SQLite.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
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
