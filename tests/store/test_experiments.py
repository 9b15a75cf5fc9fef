"""The experiment store on SQLite and PostgreSQL: an experiment reads back in the shape
reports use, case content is sealed at rest, reads are tenant-bound, labels move and resolve,
and `latest` is the newest of the tenant."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from lockgate.crypto.envelope import Keyring
from lockgate.crypto.kms import LocalMasterKey
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine
from lockgate.store.experiments import ExperimentStore
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'exp.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("experiments") as engine:
        migrate(engine)
        yield engine


def _store(engine: Engine) -> ExperimentStore:
    cipher = Keyring(LocalMasterKey(secrets.token_bytes(32)), SqlDataKeyStore(engine))
    return ExperimentStore(engine, cipher)


def _case(case_id: str, passed: bool, answer: str) -> dict[str, Any]:
    return {
        "id": case_id,
        "tags": ["factual"],
        "passed": passed,
        "metrics": {"token_f1": 0.5, "hit_at_k": 1.0},
        "assertions": [{"assert": "contains: 30 days", "passed": passed, "detail": "found"}],
        "input": [{"role": "user", "content": "secret question?"}],
        "answer": answer,
        "refused": False,
        "citations": [{"index": 1, "source": "refunds.md", "page": None, "chunk_id": 7}],
        "sources": ["refunds.md", "faq.txt"],
        "latency_ms": 12.5,
        "ttft_ms": 3.25,
        "cost_usd": 0.000125,
        "trace_id": "t" * 32,
        "error": None,
    }


def _experiment(name: str, created_at: float, answer: str = "Thirty days, secretly.") -> dict:
    return {
        "name": name,
        "created_at": created_at,
        "dataset": "gold.jsonl",
        "dataset_hash": "ab" * 32,
        "options": {"app": None, "prompt": "grounded@main", "model": "m", "judge": None},
        "pass_rate": 0.5,
        "metrics": {"token_f1": 0.5},
        "cases": [_case("a", True, answer), _case("b", False, "no")],
    }


def test_round_trip_in_the_report_shape_and_sealed(db: Engine) -> None:
    store = _store(db)
    exp_id = store.add(_experiment("run-1", 1000.0), "acme", "eval")
    got = store.get(exp_id, "acme")
    assert got is not None
    assert {k: got[k] for k in ("id", "name", "created_at", "dataset", "pass_rate")} == {
        "id": exp_id,
        "name": "run-1",
        "created_at": 1000.0,
        "dataset": "gold.jsonl",
        "pass_rate": 0.5,
    }
    assert got["options"]["prompt"] == "grounded@main" and got["metrics"] == {"token_f1": 0.5}
    assert [c["id"] for c in got["cases"]] == ["a", "b"]
    assert got["cases"][0] == _case("a", True, "Thirty days, secretly.")
    with db.connect() as conn:
        raw = " ".join(r[0] for r in conn.execute(text("SELECT content FROM experiment_cases")))
    assert "secretly" not in raw and "secret question" not in raw


def test_reads_are_tenant_bound(db: Engine) -> None:
    store = _store(db)
    exp_id = store.add(_experiment("run-1", 1000.0), "acme", "eval")
    assert store.get(exp_id, "globex") is None
    assert store.get(exp_id, None) is not None  # the operator reads every tenant
    assert store.list("globex") == [] and [r["id"] for r in store.list("acme")] == [exp_id]
    assert store.resolve(exp_id, "globex") is None and store.resolve(exp_id, "acme") == exp_id
    assert store.label(exp_id, "baseline", "globex") is False


def test_labels_move_and_resolve_per_tenant(db: Engine) -> None:
    store = _store(db)
    first = store.add(_experiment("one", 1000.0), "acme", "eval")
    second = store.add(_experiment("two", 2000.0), "acme", "eval")
    theirs = store.add(_experiment("three", 3000.0), "globex", "eval")
    assert store.label(first, "baseline", "acme")
    assert store.resolve("baseline", "acme") == first
    assert store.label(second, "baseline", None)  # moved, by the operator
    assert store.resolve("baseline", "acme") == second
    assert store.get(first, "acme")["labels"] == []
    assert store.get(second, "acme")["labels"] == ["baseline"]
    assert store.label(theirs, "baseline", "globex")
    assert store.resolve("baseline", "globex") == theirs
    # The operator cannot tell which tenant's `baseline` is meant.
    assert store.resolve("baseline", None) is None
    assert store.latest("acme") == second and store.latest(None) == theirs
    assert store.latest("acme", exclude=second) == first
    with pytest.raises(ValueError, match="invalid label"):
        store.label(first, "bad label!", "acme")
    with pytest.raises(ValueError, match="invalid label"):
        store.label(first, "exp_" + "0" * 24, "acme")
