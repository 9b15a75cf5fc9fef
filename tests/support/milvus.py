"""A real Milvus on a loopback port for the vector engine tests: the engine binary of the
milvus-lite 2.5 wheel (lockgate/retrieval/milvus_local.py), one per test session, each test
in collections of its own. scripts/bootstrap.sh installs it, so a missing engine fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.config import VectorEngineConfig
from lockgate.retrieval.milvus_local import LocalMilvus
from tests.support.server import free_port


def start(data: Path, port: int | None = None) -> LocalMilvus:
    return LocalMilvus(data, port or free_port()).start()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMilvus]:
    server = start(tmp_path_factory.mktemp("milvus") / "lockgate.db")
    try:
        yield server
    finally:
        server.stop()


def collection_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def engine_config(uri: str, **overrides: object) -> VectorEngineConfig:
    """Milvus at `uri`, in a collection no other test uses."""
    values: dict[str, object] = {
        "engine": "milvus",
        "uri": uri,
        "collection": collection_name(),
        "index": "FLAT",
    }
    values.update(overrides)
    return VectorEngineConfig(**values)  # type: ignore[arg-type]
