"""`lockgate ingest`: walk paths, skip what is unchanged, quarantine what cannot be parsed,
and commit each document (chunks, embeddings, full-text rows) in one transaction."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from lockgate.config import IngestConfig
from lockgate.ingest import containers, quality, strategies
from lockgate.ingest.bounded import LimitExceeded, NotRegularFile, read_file
from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.sidecar import SIDECAR_SUFFIXES
from lockgate.ingest.types import ChunkDraft, ParseError, ParseOptions
from lockgate.models.base import EmbeddingModel, UpstreamError
from lockgate.store.access import Access, TenantConflict
from lockgate.store.documents import (
    AlreadyIndexed,
    CommitHook,
    DocumentStore,
    KnownSource,
    NewChunk,
    VersionInfo,
)
from lockgate.store.runs import IngestRunStore

# Folders that are never documents: VCS metadata, virtualenvs, our own data directory.
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".lockgate"}


@dataclass
class QuarantinedFile:
    source: str
    reason: str
    detail: str


@dataclass
class IngestSummary:
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    retired: int = 0
    # Sources that already belong to another tenant: left as they are, never replaced.
    refused: int = 0
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    quarantined_files: list[QuarantinedFile] = field(default_factory=list)
    run_id: int | None = None
    # The per-run report: outcomes by reason, time per stage, what normalisation
    # and near-duplicate grouping did, per-source sync results and alerts raised.
    reasons: dict[str, int] = field(default_factory=dict)
    stages_ms: dict[str, float] = field(default_factory=dict)
    ocr_pages: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    strategies: dict[str, int] = field(default_factory=dict)
    normalize: dict[str, int] = field(default_factory=dict)
    near_duplicates: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, object]] = field(default_factory=list)
    alerts: list[dict[str, object]] = field(default_factory=list)
    # OCR pages flagged as low-confidence (excluded or marked, per ingest.ocr), and
    # documents found inside others (mail attachments, archive members).
    ocr_low_confidence: list[dict[str, object]] = field(default_factory=list)
    members: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


Progress = Callable[[str, int, int], None]


class Known(Protocol):
    """What `process` asks about a source: the whole table read once (a local run), or one
    row read per call (a queue worker, store/documents.py `known_source`)."""

    def get(self, source: str, /) -> KnownSource | None: ...

    def __iter__(self) -> Iterator[str]: ...


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    follow_symlinks: bool = False,
    exclude: Iterable[Path] = (),
) -> Iterator[Path]:
    skip = {Path(p).resolve() for p in exclude}
    for raw in paths:
        root = Path(raw)
        if root.is_file():
            yield root.resolve()
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in _SKIP_DIRS and (Path(dirpath) / d).resolve() not in skip
            )
            for name in sorted(filenames):
                if name.endswith(SIDECAR_SUFFIXES):
                    continue  # metadata about a document, not a document
                path = Path(dirpath) / name
                if path.is_symlink() and not follow_symlinks:
                    continue
                yield path.resolve()


def embedding_text(draft: ChunkDraft, title: str | None) -> str:
    # The heading path gives a chunk the context its body often omits ("Refunds > Enterprise").
    context = [p for p in (title, *draft.heading_path) if p]
    return (" > ".join(dict.fromkeys(context)) + "\n" + draft.text) if context else draft.text


def embedding_failed(exc: UpstreamError) -> ParseError:
    """A remote embedder that failed a document (after its retries). The document is held
    in quarantine (`docs retry`, or the next run, tries again) and its indexed version, if
    any, stays as it was; it is never embedded by another model instead, since vectors of two
    models in one index do not compare."""
    return ParseError("embedding_failed", str(exc))


class Ingestor:
    def __init__(
        self,
        store: DocumentStore,
        runs: IngestRunStore,
        embedder: EmbeddingModel,
        config: IngestConfig,
        exclude: Iterable[Path] = (),
        access: Access | None = None,
    ) -> None:
        strategies.check(config.strategies, config.default_strategy)
        # Who may see what this run indexes (tenant and groups, `lockgate ingest --tenant`).
        self.access = access or Access()
        self.store = store
        self.runs = runs
        self.embedder = embedder
        self.config = config
        # The data directory (the store itself) is never a document, whatever its name.
        self.exclude = list(exclude)
        # Set by a queue worker for one job: called in the transaction that commits the
        # job's own document (not a container's members), see ingest/worker.py.
        self.commit_hook: CommitHook | None = None

    def run(
        self,
        paths: list[str],
        prune: bool = False,
        progress: Progress | None = None,
    ) -> IngestSummary:
        started = time.perf_counter()
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        summary = IngestSummary(run_id=self.runs.start())
        files = list(iter_files(paths, self.config.follow_symlinks, self.exclude))
        if prune:
            # Before the files are processed: a renamed file is otherwise recorded as a
            # duplicate of its old name, which is then retired, leaving the content unindexed.
            summary.retired = self.prune(paths, {str(f) for f in files})
        known = self.store.known_sources()
        quarantined = {q["source"] for q in self.store.list_quarantine()}
        unchanged: list[str] = []
        for i, path in enumerate(files, start=1):
            if progress:
                progress(str(path), i, len(files))
            summary.seen += 1
            outcome = self.index_file(path, known, quarantined, summary)
            if outcome == "unchanged":
                unchanged.append(str(path))
        self.store.touch(unchanged)
        return self.finish(summary, started)

    def finish(self, summary: IngestSummary, started: float) -> IngestSummary:
        from lockgate.ingest.report import finalize

        finalize(self, summary)
        summary.seconds = round(time.perf_counter() - started, 3)
        self.runs.finish(summary.run_id or 0, summary.as_dict())
        return summary

    def index_file(
        self,
        path: Path,
        known: Known,
        quarantined: set[str],
        summary: IngestSummary,
    ) -> str:
        source = str(path)
        try:
            # Checked on the open file, before its bytes are read: a FIFO or a huge sparse
            # file costs neither a hang nor the memory.
            data = read_file(path, self.config.max_file_bytes)
            mtime = path.stat().st_mtime
            declared = quality.declared_for(path)
        except NotRegularFile as exc:
            return self.quarantine(source, ParseError("not_a_file", str(exc)), None, None, summary)
        except LimitExceeded as exc:
            return self.quarantine(source, ParseError("too_large", str(exc)), None, None, summary)
        except OSError as exc:
            return self.quarantine(source, ParseError("unreadable", str(exc)), None, None, summary)
        return self.process(source, data, path.name, mtime, declared, known, quarantined, summary)

    def process(
        self,
        source: str,
        data: bytes,
        name: str,
        mtime: float,
        declared: quality.Declared,
        known: Known,
        quarantined: set[str],
        summary: IngestSummary,
        parent_id: int | None = None,
        depth: int = 0,
        inflated: list[int] | None = None,
    ) -> str:
        """Index one document's bytes under `source` (a path, URL or s3:// key). `parent_id`
        and `depth` are set for a document found inside another (see ingest/containers.py),
        `inflated` is the archive budget it shares with the file it came from."""
        if len(data) > self.config.max_file_bytes:
            return self.quarantine(
                source, ParseError("too_large", f"{len(data)} bytes"), None, None, summary
            )
        digest = hashlib.sha256(data).hexdigest()
        prev = known.get(source)
        access = self.access_for(source)
        if prev is not None and prev.tenant != access.tenant:
            return self.refuse(summary)
        if (
            prev is not None
            and prev.status == "active"
            and prev.content_hash == digest
            and prev.meta_hash == declared.meta_hash
            and prev.acl == access.acl()  # new groups re-index: chunks carry the access list
            and source not in quarantined
        ):
            summary.unchanged += 1
            return "unchanged"
        dup = self.store.active_by_hash(digest, exclude_source=source, access=access)
        if dup is not None:
            try:
                self.store.mark_duplicate(source, dup[0], access)
            except TenantConflict:
                return self.refuse(summary)
            summary.duplicates += 1
            return "duplicate"
        stages = summary.stages_ms
        try:
            t0 = time.perf_counter()
            fmt = detect_format(data, name)
            shared = inflated if inflated is not None else [0]
            options = ParseOptions(self.config.ocr, self.config.archives, depth, shared)
            parsed = parse_bytes(data, name, options)
            stages["parse"] = stages.get("parse", 0.0) + (time.perf_counter() - t0) * 1000
            prep = quality.prepare(parsed, data, fmt, self.config, self.embedder, declared, stages)
            parsed, drafts = prep.doc, prep.drafts
            if not drafts and not parsed.attachments:
                raise ParseError("no_text", "no chunks after parsing")
        except ParseError as exc:
            return self.quarantine(source, exc, digest, len(data), summary)
        except UpstreamError as exc:
            return self.quarantine(source, embedding_failed(exc), digest, len(data), summary)
        t0 = time.perf_counter()
        containers.annotate(parsed, drafts, prep.chunk_extra, prep.version_extra)
        # A container (zip, mail with only attachments) may have no chunks of its own.
        texts = [embedding_text(d, parsed.title) for d in drafts]
        try:
            vectors: np.ndarray | list[np.ndarray] = self.embedder.embed(texts) if texts else []
        except UpstreamError as exc:
            return self.quarantine(source, embedding_failed(exc), digest, len(data), summary)
        stages["embed"] = stages.get("embed", 0.0) + (time.perf_counter() - t0) * 1000
        new_chunks = [
            NewChunk(
                position=d.position,
                text=d.text,
                heading_path=d.heading_path,
                page=d.page,
                char_start=d.char_start,
                embedding=vectors[i].tobytes(),
                extra=prep.chunk_extra[i],
            )
            for i, d in enumerate(drafts)
        ]
        info = VersionInfo(
            content_hash=digest,
            size=len(data),
            mtime=mtime,
            format=fmt,
            parser=parsed.parser,
            parser_version=parsed.parser_version,
            title=parsed.title,
            pages=parsed.pages,
            extra=prep.version_extra,
        )
        t0 = time.perf_counter()
        # A container's job is done once its members are: the worker marks it afterwards.
        hook = self.commit_hook if parent_id is None and not parsed.attachments else None
        already = False
        try:
            doc_id, version = self.store.commit_version(source, info, new_chunks, access, hook)
        except TenantConflict:  # claimed by another tenant since `known` was read
            return self.refuse(summary)
        except AlreadyIndexed as exc:
            # Committed by someone else since `known` was read (another worker holding a
            # redelivered copy of the job): nothing written, counted once, as unchanged.
            doc_id, version, already = exc.document_id, exc.version, True
        if parent_id is not None:
            self.store.set_parent(doc_id, parent_id)
        stages["commit"] = stages.get("commit", 0.0) + (time.perf_counter() - t0) * 1000
        if not already:
            quality.count(summary, prep, parsed)
            containers.count_ocr(summary, source, parsed, self.config.ocr.low_confidence)
        if parsed.attachments:
            containers.ingest_members(
                self,
                source,
                doc_id,
                parsed,
                mtime,
                known,
                quarantined,
                summary,
                depth,
                options.inflated,
            )
        if already:
            summary.unchanged += 1
            return "unchanged"
        summary.chunks += len(new_chunks)
        summary.pages += parsed.pages or 1
        if version == 1:
            summary.new += 1
            return "new"
        summary.updated += 1
        return "updated"

    def access_for(self, source: str) -> Access:
        """The first `ingest.access` rule matching `source`, else the run's access."""
        for rule in self.config.access:
            if fnmatch.fnmatchcase(source, rule.match) or fnmatch.fnmatchcase(
                source, "*/" + rule.match.lstrip("/")
            ):
                return Access.of(rule.tenant, rule.groups)
        return self.access

    def refuse(self, summary: IngestSummary) -> str:
        """Count a source owned by another tenant. Not quarantined: the quarantine is keyed
        by source, so that would change what the owning tenant sees."""
        summary.refused += 1
        summary.reasons["other_tenant"] = summary.reasons.get("other_tenant", 0) + 1
        return "refused"

    def quarantine(
        self,
        source: str,
        exc: ParseError,
        digest: str | None,
        size: int | None,
        summary: IngestSummary,
    ) -> str:
        """Put `source` in quarantine with the reason it could not be indexed and count it in
        `summary`; returns the outcome "quarantined". Also used for container members and
        for items a source could not fetch."""
        self.store.quarantine(source, exc.reason, exc.detail, digest, size)
        summary.quarantined += 1
        summary.reasons[exc.reason] = summary.reasons.get(exc.reason, 0) + 1
        summary.quarantined_files.append(QuarantinedFile(source, exc.reason, exc.detail))
        return "quarantined"

    def prune(self, roots: list[str], seen: set[str]) -> int:
        prefixes = [str(Path(r).resolve()) for r in roots]

        def under(src: str) -> bool:
            # A member (`a.zip#x.pdf`) stays as long as the file holding it is still there.
            if containers.is_member_of_any(src, seen):
                return False
            return any(src == p or src.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)

        gone = [
            src
            for src, info in self.store.known_sources().items()
            if src not in seen
            and info.status != "retired"
            and under(src)
            # Another tenant's documents under the same folder are not this run's to retire.
            and info.tenant == self.access_for(src).tenant
        ]
        gone += [
            q["source"]
            for q in self.store.list_quarantine()
            if q["source"] not in seen and under(q["source"])
        ]
        return self.store.retire_documents(sorted(set(gone)))
