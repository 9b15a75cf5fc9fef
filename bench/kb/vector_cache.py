"""An embedder that remembers every vector it made in a file, so a benchmark embeds its
corpus once and every later run (and a baseline checkout's run) reuses the same vectors.

The vectors are the real model's: a miss is embedded by it (documents by the backend,
questions by its `for_queries()` view), so a run through the cache ranks exactly as the
uncached default path would. Only numpy and the embedder interface are used, so the
module works with any checkout of the package."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class VectorCache:
    def __init__(self, path: Path, load_model: Callable[[], Any]) -> None:
        self.path = path
        self._load_model = load_model
        self._model: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.misses = 0
        self.dirty = False
        if path.exists():
            with np.load(path) as data:
                keys, matrix = data["keys"], data["vectors"]
            self._vectors = {str(k): matrix[i] for i, k in enumerate(keys)}

    def model(self) -> Any:
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def get(self, kind: str, texts: Sequence[str]) -> np.ndarray:
        keys = [kind + ":" + hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        with self._lock:
            missing = [i for i, k in enumerate(keys) if k not in self._vectors]
        if missing:
            model = self.model()
            backend = model.for_queries() if kind == "q" else model
            new = np.asarray(backend.embed([texts[i] for i in missing]), dtype=np.float32)
            with self._lock:
                for row, i in enumerate(missing):
                    self._vectors[keys[i]] = new[row]
                self.misses += len(missing)
                self.dirty = True
        with self._lock:
            return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self.dirty:
            return
        with self._lock:
            keys = np.asarray(list(self._vectors))
            matrix = np.stack(list(self._vectors.values())).astype(np.float32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=matrix)
        tmp.replace(self.path)
        self.dirty = False


def cached_embedder(cache: VectorCache, base: type, name: str, dimensions: int) -> Any:
    """An instance of a subclass of `base` (the package's EmbeddingBackend) whose
    documents and questions go through `cache`."""

    class _Queries(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.name, self.dimensions = name, dimensions

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return cache.get("q", texts)

    class _Documents(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.name, self.dimensions = name, dimensions
            self._queries = _Queries()

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return cache.get("d", texts)

        def for_queries(self) -> Any:
            return self._queries

    return _Documents()
