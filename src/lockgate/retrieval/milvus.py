"""Vector search in Milvus, kept in step with the document store (docs/vector-db.md).

The store stays the one source of truth; the collection is derived from it. Each sync (when
the store's index generation moves, and before any search that finds it moved) deletes the
chunks the store retired and upserts the ones it activated, then checks the collection's row
count against the store's: any difference (another process's half-finished sync, a
collection edited by hand) makes it reconcile against the ids the engine really holds. A
process that starts on a filled collection reconciles once instead of re-inserting it.

Who may see a chunk is part of the engine's query: its tenant, access groups and source are
stored hex-encoded (so a filter expression holds only hex digits and can neither be
misparsed nor injected, whatever the names contain; hex keeps prefixes, so a source prefix
is a LIKE on the hex), and every search's filter names the caller's tenant and groups."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lockgate.config.retrieval import VectorEngineConfig
from lockgate.retrieval.index import VectorHit, VectorIndexMisconfigured, VectorIndexUnavailable
from lockgate.store.access import Access
from lockgate.store.documents import DocumentStore

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

_FIELDS = ("id", "document_id", "tenant", "groups", "source", "vector")
_NAME_BYTES = 1024  # a tenant or group name, UTF-8 (stored as twice as many hex digits)
_SOURCE_BYTES = 32767
_DELETE_BATCH = 10000
# Ids per query when reading the collection's ids: under Milvus's 16384-row result cap.
_ID_WINDOW = 16000


def hexed(value: str) -> str:
    return value.encode("utf-8").hex()


def access_filter(access: Access) -> str:
    """The caller's visibility as a Milvus boolean expression (Access.allows, pushed down)."""
    own = f'tenant == "{hexed(access.tenant)}"'
    if not access.groups:
        return f"{own} and array_length(groups) == 0"
    groups = ", ".join(f'"{hexed(g)}"' for g in access.groups)
    return f"{own} and (array_length(groups) == 0 or array_contains_any(groups, [{groups}]))"


def search_filter(
    access: Access | None, source_prefix: str | None, document_ids: Sequence[int] | None
) -> str:
    parts = []
    if access is not None:
        parts.append(access_filter(access))
    if document_ids:
        parts.append(f"document_id in [{', '.join(str(int(d)) for d in document_ids)}]")
    if source_prefix:
        parts.append(f'source like "{hexed(source_prefix)}%"')
    return " and ".join(f"({p})" for p in parts)


def _engine_errors() -> tuple[type[BaseException], ...]:
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError, ConnectionError, TimeoutError, OSError)


class MilvusVectorIndex:
    """The `VectorIndex` interface (index.py) on a Milvus collection."""

    def __init__(
        self, store: DocumentStore, config: VectorEngineConfig, token: str | None = None
    ) -> None:
        if config.uri is None:
            raise ValueError("retrieval.vector.uri is not set")
        self.store = store
        self.config = config
        self._token = token or ""
        self._alias = f"lockgate-{uuid.uuid4().hex[:12]}"
        self._client: MilvusClient | None = None
        self._dimensions: int | None = None  # None: no collection yet
        self._ids: np.ndarray | None = None  # chunk ids in the collection, sorted
        self._generation = -1
        self._lock = threading.Lock()
        self.stats = {"upserted": 0, "deleted": 0, "reconciled": 0}

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> MilvusClient:
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:  # the optional extra is not installed
                raise VectorIndexMisconfigured(
                    "retrieval.vector.engine is 'milvus' but pymilvus is not installed: "
                    "pip install 'lockgate[scale]'"
                ) from exc
            try:
                self._client = MilvusClient(
                    uri=self.config.uri or "",
                    token=self._token,
                    db_name=self.config.db_name,
                    timeout=self.config.timeout_s,
                    alias=self._alias,
                )
            except _engine_errors() as exc:
                raise VectorIndexUnavailable(
                    f"cannot connect to Milvus at {self.config.uri}: {exc}"
                ) from exc
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __len__(self) -> int:
        return 0 if self._ids is None else int(self._ids.size)

    # -- the collection --------------------------------------------------------------
    def _attach(self, client: MilvusClient) -> None:
        """Find the collection and check it can hold these rows; None until it exists."""
        name = self.config.collection
        if not client.has_collection(name, timeout=self.config.timeout_s):
            return
        info = client.describe_collection(name, timeout=self.config.timeout_s)
        fields = {f["name"]: f for f in info.get("fields", [])}
        if set(_FIELDS) - set(fields):
            raise VectorIndexMisconfigured(
                f"Milvus collection {name!r} was not made by Lockgate (fields "
                f"{sorted(fields)}, expected {list(_FIELDS)}): set retrieval.vector.collection "
                "to another name"
            )
        self._dimensions = int(fields["vector"]["params"]["dim"])
        state = client.get_load_state(name, timeout=self.config.timeout_s)
        if "Loaded" not in str(state.get("state", "")):
            client.load_collection(name, timeout=self.config.timeout_s)

    def _create(self, client: MilvusClient, dimensions: int) -> None:
        from pymilvus import DataType

        cfg = self.config
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("document_id", DataType.INT64)
        schema.add_field("tenant", DataType.VARCHAR, max_length=2 * _NAME_BYTES)
        schema.add_field(
            "groups",
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=cfg.max_groups,
            max_length=2 * _NAME_BYTES,
        )
        schema.add_field("source", DataType.VARCHAR, max_length=2 * _SOURCE_BYTES + 1)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimensions)
        index = client.prepare_index_params()
        index.add_index("vector", index_type=cfg.index, metric_type="IP", params=self._build())
        client.create_collection(
            cfg.collection,
            schema=schema,
            index_params=index,
            consistency_level=cfg.consistency,
            timeout=cfg.timeout_s,
        )
        self._dimensions = dimensions
        self._ids = np.zeros(0, dtype=np.int64)

    def _build(self) -> dict[str, Any]:
        cfg = self.config
        if cfg.index == "IVF_FLAT":
            return {"nlist": cfg.nlist}
        if cfg.index == "HNSW":
            return {"M": cfg.hnsw_m, "efConstruction": cfg.hnsw_ef_construction}
        return {}

    def _search_params(self) -> dict[str, Any]:
        cfg = self.config
        if cfg.index == "IVF_FLAT":
            return {"metric_type": "IP", "params": {"nprobe": cfg.nprobe}}
        if cfg.index == "HNSW":
            return {"metric_type": "IP", "params": {"ef": cfg.hnsw_ef}}
        return {"metric_type": "IP", "params": {}}

    # -- sync ------------------------------------------------------------------------
    def refresh(self) -> None:
        try:
            generation = self.store.index_generation()
            if generation == self._generation:
                return
            with self._lock:
                if generation == self._generation:
                    return
                self._sync()
                self._generation = generation
        except VectorIndexUnavailable:
            raise
        except _engine_errors() as exc:
            raise VectorIndexUnavailable(f"Milvus sync failed: {exc}") from exc

    def _sync(self) -> None:
        client = self._connect()
        if self._dimensions is None:
            self._attach(client)
        if self._ids is None and self._dimensions is not None:
            self._reconcile(client)
            return
        known = np.zeros(0, dtype=np.int64) if self._ids is None else self._ids
        active = np.asarray(self.store.active_chunk_ids(), dtype=np.int64)
        self._delete(client, np.setdiff1d(known, active, assume_unique=True))
        kept = known[np.isin(known, active)]
        added = self._upsert(client, np.setdiff1d(active, kept, assume_unique=True))
        if self._dimensions is None:
            return  # nothing to index yet, no collection
        self._ids = np.union1d(kept, added)
        if self._count(client) != self._ids.size:
            self._reconcile(client)

    def _reconcile(self, client: MilvusClient) -> None:
        """Make the collection hold exactly the store's active chunks, from the ids the
        engine really has. The store is read after them: a chunk another process inserted
        was active when it did, so one missing from this later read was retired since."""
        held = np.sort(np.fromiter(self._engine_ids(client), dtype=np.int64))
        active = np.asarray(self.store.active_chunk_ids(), dtype=np.int64)
        self._delete(client, np.setdiff1d(held, active))
        kept = held[np.isin(held, active)]
        added = self._upsert(client, np.setdiff1d(active, kept))
        self._ids = np.union1d(kept, added)
        self.stats["reconciled"] += 1

    def _engine_ids(self, client: MilvusClient) -> Iterator[int]:
        """Every id the collection holds. Rows outside the store's id range cannot be its
        chunks and are deleted outright; the range is read in windows of ids narrower than
        the most rows one query returns (pymilvus's query iterator fails on this schema
        in the bundled engine)."""
        top = self.store.max_chunk_id()
        name, timeout = self.config.collection, self.config.timeout_s
        client.delete(name, filter=f"id > {top} or id < 1", timeout=timeout)
        for low in range(1, top + 1, _ID_WINDOW):
            rows = client.query(
                name,
                filter=f"id >= {low} and id < {low + _ID_WINDOW}",
                output_fields=["id"],
                consistency_level="Strong",
                timeout=timeout,
            )
            yield from (int(row["id"]) for row in rows)

    def _count(self, client: MilvusClient) -> int:
        rows = client.query(
            self.config.collection,
            filter="",
            output_fields=["count(*)"],
            consistency_level="Strong",
            timeout=self.config.timeout_s,
        )
        return int(rows[0]["count(*)"])

    def _delete(self, client: MilvusClient, ids: np.ndarray) -> None:
        for start in range(0, ids.size, _DELETE_BATCH):
            batch = ids[start : start + _DELETE_BATCH].tolist()
            client.delete(self.config.collection, ids=batch, timeout=self.config.timeout_s)
            self.stats["deleted"] += len(batch)

    def _upsert(self, client: MilvusClient, ids: np.ndarray) -> np.ndarray:
        """Write these chunks' rows (those with an embedding); returns the ids written.
        Upsert, not insert: two processes syncing at once must not duplicate a row."""
        written: list[int] = []
        step = self.config.batch_size
        for start in range(0, ids.size, max(step, 20000)):
            rows = self.store.embeddings(ids[start : start + max(step, 20000)].tolist())
            rows = [r for r in rows if r[3] is not None]
            for part in range(0, len(rows), step):
                chunk = rows[part : part + step]
                records = list(self._records(client, chunk))
                client.upsert(self.config.collection, records, timeout=self.config.timeout_s)
                written.extend(r[0] for r in chunk)
                self.stats["upserted"] += len(chunk)
        return np.sort(np.asarray(written, dtype=np.int64))

    def _records(
        self, client: MilvusClient, rows: Iterable[tuple[int, int, str, bytes, str, str]]
    ) -> Iterator[dict[str, Any]]:
        for chunk_id, document_id, source, embedding, tenant, acl in rows:
            vector = np.frombuffer(embedding, dtype=np.float32)
            if self._dimensions is None:
                self._create(client, int(vector.size))
            if vector.size != self._dimensions:
                raise VectorIndexMisconfigured(
                    f"Milvus collection {self.config.collection!r} holds "
                    f"{self._dimensions}-dimensional vectors, chunk {chunk_id} has "
                    f"{vector.size}: the embedding model changed; set "
                    "retrieval.vector.collection to a new name (and re-ingest)"
                )
            groups = json.loads(acl or "[]")
            if len(groups) > self.config.max_groups:
                raise VectorIndexMisconfigured(
                    f"chunk {chunk_id} has {len(groups)} access groups, more than "
                    f"retrieval.vector.max_groups ({self.config.max_groups})"
                )
            names = [tenant, *groups]
            if any(len(n.encode("utf-8")) > _NAME_BYTES for n in names):
                raise VectorIndexMisconfigured(
                    f"chunk {chunk_id}: a tenant or group name is over {_NAME_BYTES} bytes"
                )
            yield {
                "id": int(chunk_id),
                "document_id": int(document_id),
                "tenant": hexed(tenant),
                "groups": [hexed(g) for g in groups],
                # A longer source is cut: only source-prefix filters read it.
                "source": hexed(source.encode("utf-8")[:_SOURCE_BYTES].decode("utf-8", "ignore")),
                "vector": vector,
            }

    # -- search ----------------------------------------------------------------------
    def search(
        self,
        query_vec: np.ndarray,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
        access: Access | None = None,
    ) -> list[VectorHit]:
        self.refresh()
        if self._dimensions is None:
            return []  # nothing indexed yet
        query = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if query.size != self._dimensions:
            return []
        client = self._connect()  # reopened after close(), as the store's connections are
        try:
            found = client.search(
                self.config.collection,
                data=[query],
                limit=limit,
                filter=search_filter(access, source_prefix, document_ids),
                output_fields=[],
                search_params=self._search_params(),
                consistency_level=self.config.consistency,
                timeout=self.config.timeout_s,
            )
        except _engine_errors() as exc:
            raise VectorIndexUnavailable(f"Milvus search failed: {exc}") from exc
        return [VectorHit(int(hit["id"]), float(hit["distance"])) for hit in found[0]]
