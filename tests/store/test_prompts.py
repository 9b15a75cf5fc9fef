"""The prompt registry's store on SQLite and PostgreSQL: versions are numbered 1, 2, 3 per
name and never rewritten, the same content is the same version, labels move and roll back
along their history, and seeding and pushing are safe from many writers at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from lockgate.prompts.builtin import builtin_specs
from lockgate.prompts.spec import PromptSpec
from lockgate.store import tables as tb
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from lockgate.store.prompts import PromptInputError, PromptNotFound, PromptStore
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'prompts.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("prompts") as engine:
        migrate(engine)
        yield engine


def _spec(text: str, name: str = "support") -> PromptSpec:
    return PromptSpec(name=name, template=text + " {{ question }}", variables=["question"])


def _push(store: PromptStore, spec: PromptSpec, actor: str = "dev"):
    return store.push(spec.name, spec.hash, spec.canonical(), actor)


def test_versions_count_per_name_and_same_content_is_unchanged(db: Engine) -> None:
    store = PromptStore(db)
    first, second = _push(store, _spec("one")), _push(store, _spec("two"))
    assert (first.seq, first.created, second.seq, second.created) == (1, True, 2, True)
    assert _push(store, _spec("solo", name="other")).seq == 1  # its own sequence
    again = _push(store, _spec("two"))
    assert (again.seq, again.created, again.hash) == (2, False, second.hash)
    older = _push(store, _spec("one"))  # content of an older version: that version
    assert (older.seq, older.created) == (1, False)
    v2 = store.get("support", 2)
    assert v2.hash == _spec("two").hash and v2.created_by == "dev"
    assert PromptSpec.model_validate_json(v2.content).template == "two {{ question }}"
    assert store.latest("support").seq == 2
    assert [v.seq for v in store.versions("support")] == [1, 2]
    with pytest.raises(PromptNotFound, match="has no version 9"):
        store.get("support", 9)
    with pytest.raises(PromptNotFound, match="no prompt named 'nope'"):
        store.get("nope", 1)


def test_labels_move_and_roll_back_along_their_history(db: Engine) -> None:
    store = PromptStore(db)
    for text in ("one", "two", "three"):
        _push(store, _spec(text))
    assert store.set_label("support", "production", 1, "ann").changed
    store.set_label("support", "production", 2, "ann")
    move = store.set_label("support", "production", 3, "bob")
    assert (move.from_seq, move.to_seq) == (2, 3)
    assert not store.set_label("support", "production", 3).changed  # already there
    store.set_label("support", "staging", 1)
    assert store.labels("support") == {"production": 3, "staging": 1}
    back = store.rollback("support", "production", "carol")
    assert (back.from_seq, back.to_seq) == (3, 2)
    assert store.rollback("support", "production").to_seq == 1  # and further back
    with pytest.raises(PromptInputError, match="no earlier version"):
        store.rollback("support", "production")
    # A new move after rolling back: rollback returns to where the label was before it.
    store.set_label("support", "production", 3)
    assert store.rollback("support", "production").to_seq == 1
    assert store.label_seq("support", "production") == 1
    with pytest.raises(PromptInputError, match="no earlier version"):
        store.rollback("support", "staging")
    summary = {s.name: s for s in store.summaries()}["support"]
    assert summary.latest == 3 and summary.labels == {"production": 1, "staging": 1}
    h = tb.prompt_label_history
    with db.connect() as conn:
        actors = conn.execute(select(h.c.actor, h.c.action).order_by(h.c.id)).all()
    assert actors[:5] == [
        ("ann", "label"),
        ("ann", "label"),
        ("bob", "label"),
        (None, "label"),  # staging
        ("carol", "rollback"),
    ]


def test_label_errors_name_what_is_missing(db: Engine) -> None:
    store = PromptStore(db)
    _push(store, _spec("one"))
    with pytest.raises(PromptNotFound, match="has no version 4"):
        store.set_label("support", "production", 4)
    with pytest.raises(PromptNotFound, match="no prompt named 'ghost'"):
        store.set_label("ghost", "production", 1)
    with pytest.raises(PromptInputError, match="must match"):
        store.set_label("support", "Prod!", 1)
    with pytest.raises(PromptNotFound, match="has no label 'canary'"):
        store.label_seq("support", "canary")
    with pytest.raises(PromptNotFound, match="has no label 'canary'"):
        store.rollback("support", "canary")


def test_seed_is_version_one_once_even_from_many_writers(db: Engine) -> None:
    spec = builtin_specs()[0]
    results: list[bool] = []

    def seed() -> None:
        results.append(PromptStore(db).seed(spec.name, spec.hash, spec.canonical()))

    threads = [threading.Thread(target=seed) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    store = PromptStore(db)
    assert not store.seed(spec.name, spec.hash, spec.canonical())
    assert [v.seq for v in store.versions(spec.name)] == [1]
    assert store.labels(spec.name) == {"production": 1}
    assert store.get(spec.name, 1).created_by == "builtin"
    # Once pushed over, the seed leaves the newer versions and the label alone.
    _push(store, _spec("newer", name=spec.name))
    assert not store.seed(spec.name, spec.hash, spec.canonical())
    assert store.labels(spec.name) == {"production": 1} and store.latest(spec.name).seq == 2


def test_concurrent_pushes_get_distinct_versions(db: Engine) -> None:
    errors: list[BaseException] = []

    def push(i: int) -> None:
        try:
            _push(PromptStore(db), _spec(f"text {i}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    v = tb.prompt_versions
    with db.connect() as conn:
        seqs = sorted(conn.execute(select(v.c.seq).where(v.c.name == "support")).scalars())
        hashes = conn.execute(select(func.count(func.distinct(v.c.hash)))).scalar()
    assert seqs == [1, 2, 3, 4, 5, 6] and hashes == 6
