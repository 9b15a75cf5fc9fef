"""The resolver's cache on a real store: a label's version is re-read once its TTL has
passed (and not before), a version is read once for good, and a missing prompt, label or
version is PromptNotFound naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.prompts.resolver import PromptResolver
from lockgate.prompts.spec import PromptSpec
from lockgate.store.prompts import PromptNotFound, PromptStore
from tests.support.store import migrated_engine


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


def _spec(text: str) -> PromptSpec:
    return PromptSpec(name="p", template=text + " {{ question }}", variables=["question"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PromptStore]:
    with migrated_engine(tmp_path, "r.db") as engine:
        store = PromptStore(engine)
        for text in ("one", "two"):
            spec = _spec(text)
            store.push(spec.name, spec.hash, spec.canonical())
        store.set_label("p", "production", 1)
        yield store


def test_a_label_is_reread_after_its_ttl(store: PromptStore) -> None:
    clock = Clock()
    resolver = PromptResolver(store, ttl_s=2.0, clock=clock)
    first = resolver.resolve("p", "production")
    assert (first.version, first.label, first.hash) == (1, "production", _spec("one").hash)
    assert first.spec.template == "one {{ question }}"
    store.set_label("p", "production", 2)
    clock.now += 1.9
    assert resolver.resolve("p", "production").version == 1
    clock.now += 0.2
    second = resolver.resolve("p", "production")
    assert second.version == 2 and second.spec.template == "two {{ question }}"


def test_a_version_is_read_once_and_pinned_versions_have_no_label(store: PromptStore) -> None:
    resolver = PromptResolver(store, ttl_s=0)
    pinned = resolver.resolve("p", "production", version=2)
    assert (pinned.version, pinned.label) == (2, None)
    reads: list[tuple[str, int]] = []
    original = store.get

    def counting(name: str, seq: int):
        reads.append((name, seq))
        return original(name, seq)

    store.get = counting  # type: ignore[method-assign]
    for _ in range(3):
        resolver.resolve("p", version=2)
    assert reads == []  # cached from the first resolve
    resolver.resolve("p", version=1)
    assert reads == [("p", 1)]


def test_missing_things_are_named(store: PromptStore) -> None:
    resolver = PromptResolver(store)
    with pytest.raises(PromptNotFound, match="has no label 'staging'"):
        resolver.resolve("p", "staging")
    with pytest.raises(PromptNotFound, match="has no version 3"):
        resolver.resolve("p", version=3)
    with pytest.raises(PromptNotFound, match="no prompt named 'q'"):
        resolver.resolve("q", "production")
