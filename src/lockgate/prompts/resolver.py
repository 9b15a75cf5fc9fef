"""Which stored prompt version a turn answers with: a label or a version number resolved
against the registry, through a small in-process cache.

Versions never change, so they are cached for good. Labels move (`lockgate prompts label`
in any process), so a label's answer is kept only `ttl_s` seconds: every gateway process
sees a move within that time, without a restart and without a store read on most turns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.prompts.spec import PromptSpec, spec_of
from lockgate.store.prompts import PromptStore


@dataclass(frozen=True)
class ResolvedPrompt:
    name: str
    version: int
    hash: str
    spec: PromptSpec
    label: str | None  # the label it came through; None for a version pinned by number


class PromptResolver:
    def __init__(
        self,
        store: PromptStore,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._labels: dict[tuple[str, str], tuple[float, int]] = {}
        self._versions: dict[tuple[str, int], tuple[str, PromptSpec]] = {}
        self._lock = threading.Lock()

    def version(self, name: str, seq: int) -> tuple[str, PromptSpec]:
        """The hash and spec of version `seq` of `name` (PromptNotFound)."""
        key = (name, seq)
        found = self._versions.get(key)
        if found is None:
            row = self.store.get(name, seq)  # PromptNotFound
            found = (row.hash, spec_of(row.content))
            with self._lock:
                if len(self._versions) >= 1024:  # bounded: names and versions come from files
                    self._versions.clear()
                self._versions[key] = found
        return found

    def label_seq(self, name: str, label: str) -> int:
        key = (name, label)
        now = self.clock()
        cached = self._labels.get(key)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        seq = self.store.label_seq(name, label)  # PromptNotFound
        with self._lock:
            if len(self._labels) >= 1024:
                self._labels.clear()
            self._labels[key] = (now, seq)
        return seq

    def resolve(
        self, name: str, label: str | None = None, version: int | None = None
    ) -> ResolvedPrompt:
        """Version `version` when given, else the one `label` points at. PromptNotFound
        naming the prompt, label or version that does not exist."""
        if version is None:
            if label is None:
                raise ValueError("resolve needs a label or a version")
            version = self.label_seq(name, label)
        else:
            label = None
        digest, spec = self.version(name, version)
        return ResolvedPrompt(name, version, digest, spec, label)
