"""Sync sources into the store: list each source (with retries), prune what it no longer
has, index what changed, and record per-source sync state and the run report.

A source that cannot be listed is reported and keeps its documents (nothing is pruned on a
failed listing). An item whose fetch keeps failing is quarantined with reason
`fetch_failed`; `lockgate docs quarantine --retry` tries quarantined items again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.config import ConfigError, SourceSpec
from lockgate.ingest.pipeline import Ingestor, IngestSummary, Progress
from lockgate.ingest.retry import with_retry
from lockgate.ingest.sources import SOURCES, Connector, FetchError, Item, Refused, SourceError
from lockgate.ingest.types import ParseError
from lockgate.store.quality import QualityStore
from lockgate.store.sources import SourceStore


def spec_for(target: str, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> SourceSpec:
    """An ad-hoc source for a command-line argument: a path, a URL, a sitemap, an s3:// URI."""
    if target.startswith(("http://", "https://")):
        kind = "sitemap" if target.rstrip("/").endswith((".xml", ".xml.gz")) else "url"
        return SourceSpec(name=target, kind=kind, uri=target)
    if target.startswith("s3://"):
        return SourceSpec(
            name=target, kind="s3", uri=target, include=list(include), exclude=list(exclude)
        )
    path = str(Path(target).resolve())
    return SourceSpec(
        name=f"folder:{path}", kind="folder", uri=path, include=list(include), exclude=list(exclude)
    )


@dataclass
class SourceSync:
    ingestor: Ingestor
    sources: SourceStore
    quality: QualityStore
    skip: tuple[Path, ...] = ()

    def connector(self, spec: SourceSpec) -> Connector:
        factory = SOURCES.get(spec.kind)
        if factory is None:
            raise ConfigError(
                f"source '{spec.name}': unknown kind '{spec.kind}' (known: {SOURCES.known()})"
            )
        return factory(spec, self.ingestor.config, self.skip)

    def run(
        self,
        specs: list[SourceSpec],
        prune: bool = False,
        progress: Progress | None = None,
        only: set[str] | None = None,
    ) -> IngestSummary:
        """Sync `specs`; with `only`, just those keys (a quarantine retry)."""
        started = time.perf_counter()
        ing = self.ingestor
        summary = IngestSummary(run_id=ing.runs.start())
        for spec in specs:
            summary.sources.append(self._one(spec, summary, prune, progress, only))
        return ing.finish(summary, started)

    def _one(
        self,
        spec: SourceSpec,
        summary: IngestSummary,
        prune: bool,
        progress: Progress | None,
        only: set[str] | None,
    ) -> dict[str, Any]:
        ing = self.ingestor
        source_id = self.sources.ensure(
            spec.name, spec.kind, spec.uri, spec.model_dump(mode="json")
        )
        report: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "source_id": source_id}
        t0 = time.perf_counter()
        try:
            conn = self.connector(spec)
            items, tries = with_retry(lambda: list(conn.items()), ing.config.retry)
        except SourceError as exc:
            report.update(error=str(exc), attempts=getattr(exc, "attempts", 1))
            self.sources.record_sync(source_id, changed=False, indexed=False, error=str(exc))
            return report
        summary.stages_ms["list"] = (
            summary.stages_ms.get("list", 0.0) + (time.perf_counter() - t0) * 1000
        )
        report["listing_attempts"] = tries
        if only is not None:
            items = [i for i in items if i.key in only]
        elif prune:
            summary.retired += self.prune(conn.prefix(), {i.key for i in items})
        known = ing.store.known_sources()
        quarantined = {q["source"] for q in ing.store.list_quarantine()}
        counts: dict[str, int] = {}
        unchanged: list[str] = []
        for n, item in enumerate(items, start=1):
            if progress:
                progress(item.key, n, len(items))
            summary.seen += 1
            outcome = self._item(item, known, quarantined, summary)
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "unchanged":
                unchanged.append(item.key)
        ing.store.touch(unchanged)
        self.quality.set_source([i.key for i in items], source_id)
        changed = any(counts.get(k) for k in ("new", "updated", "duplicate"))
        self.sources.record_sync(source_id, changed=changed, indexed=changed)
        report.update(items=len(items), outcomes=counts)
        return report

    def _item(
        self, item: Item, known: dict[str, Any], quarantined: set[str], summary: IngestSummary
    ) -> str:
        ing = self.ingestor
        t0 = time.perf_counter()
        try:
            data, _ = with_retry(item.fetch, ing.config.retry)
            declared = item.declared()
        except Refused as exc:
            return ing.quarantine(item.key, ParseError(exc.reason, str(exc)), None, None, summary)
        except FetchError as exc:
            reason = ParseError(
                "fetch_failed", f"{exc} (after {getattr(exc, 'attempts', 1)} attempt(s))"
            )
            return ing.quarantine(item.key, reason, None, None, summary)
        except OSError as exc:
            return ing.quarantine(item.key, ParseError("unreadable", str(exc)), None, None, summary)
        summary.stages_ms["fetch"] = (
            summary.stages_ms.get("fetch", 0.0) + (time.perf_counter() - t0) * 1000
        )
        return ing.process(
            item.key, data, item.name, item.mtime, declared, known, quarantined, summary
        )

    def prune(self, prefix: str, seen: set[str]) -> int:
        store = self.ingestor.store
        gone = [
            src
            for src, info in store.known_sources().items()
            if src not in seen
            and info.status != "retired"
            and _under(src, prefix)
            # Only this run's tenant's documents: another's are not its to retire.
            and info.tenant == self.ingestor.access_for(src).tenant
        ]
        gone += [
            q["source"]
            for q in store.list_quarantine()
            if q["source"] not in seen and _under(q["source"], prefix)
        ]
        return store.retire_documents(sorted(set(gone)))


def _under(key: str, prefix: str) -> bool:
    if key == prefix:
        return True
    if prefix.endswith(("/", "\\")) or "://" in prefix:
        return key.startswith(prefix if prefix.endswith("/") else prefix + "/") or key == prefix
    return key.startswith(prefix.rstrip("/") + "/")


def retry_quarantine(sync: SourceSync, keys: list[str] | None = None) -> IngestSummary:
    """Try quarantined items again, each through the source it came from."""
    store = sync.ingestor.store
    rows = [q for q in store.list_quarantine() if keys is None or q["source"] in keys]
    specs: dict[str, tuple[SourceSpec, set[str]]] = {}
    for q in rows:
        src = sync.sources.get(q["source_id"]) if q.get("source_id") else None
        # Quarantined by a plain `Ingestor.run`, an item has no source row: the key is its own.
        spec = SourceSpec(**src["config"]) if src is not None else spec_for(q["source"])
        specs.setdefault(spec.name, (spec, set()))[1].add(q["source"])
    started = time.perf_counter()
    summary = IngestSummary(run_id=sync.ingestor.runs.start())
    for spec, wanted in specs.values():
        summary.sources.append(sync._one(spec, summary, False, None, wanted))
    return sync.ingestor.finish(summary, started)
