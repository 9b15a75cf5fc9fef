"""Documents found inside other documents: mail attachments and archive members.

Each one is ingested as a document of its own under the source `<container>#<name>` (for
a mailbox, `<mbox>#<message no>/<filename>`), linked to the container by
`documents.parent_document_id`. It goes through the same path as a file: unchanged members
are skipped by hash, unreadable ones are quarantined with their reason while the others are
still indexed, and members that vanished from a new version of the container are retired.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from lockgate.ingest import quality
from lockgate.ingest.types import ParsedDocument

if TYPE_CHECKING:
    from lockgate.ingest.pipeline import Ingestor, IngestSummary, Known

SEP = "#"


def member_source(container: str, name: str) -> str:
    return f"{container}{SEP}{name}"


def is_member_of_any(source: str, seen: set[str]) -> bool:
    """Whether `source` lies inside one of the `seen` files (for pruning: a member is still
    there as long as the file that holds it is)."""
    at = source.find(SEP)
    while at != -1:
        if source[:at] in seen:
            return True
        at = source.find(SEP, at + 1)
    return False


def ingest_members(
    ingestor: Ingestor,
    container: str,
    container_id: int,
    parsed: ParsedDocument,
    mtime: float,
    known: Known,
    quarantined: set[str],
    summary: IngestSummary,
    depth: int,
    inflated: list[int] | None = None,
) -> None:
    names = set()
    for member in parsed.attachments:
        source = member_source(container, member.name)
        names.add(member.name)
        summary.members += 1
        if member.error is not None:
            ingestor.quarantine(source, member.error, None, None, summary)
            continue
        leaf = member.name.rsplit("/", 1)[-1]
        ingestor.process(
            source,
            member.data,
            leaf,
            mtime,
            quality.Declared(),
            known,
            quarantined,
            summary,
            parent_id=container_id,
            depth=depth + 1,
            inflated=inflated,
        )
    _retire_missing(ingestor, container, names, known, quarantined)


def _retire_missing(
    ingestor: Ingestor,
    container: str,
    names: set[str],
    known: Known,
    quarantined: set[str],
) -> None:
    prefix = container + SEP
    stale = [
        src
        for src in {*known, *quarantined}
        if src.startswith(prefix) and src[len(prefix) :].split(SEP, 1)[0] not in names
    ]
    if stale:
        ingestor.store.retire_documents(sorted(stale))


def annotate(
    parsed: ParsedDocument,
    drafts: list[Any],
    chunk_extra: list[dict[str, Any]],
    version_extra: dict[str, Any],
) -> None:
    """Put OCR confidence on each chunk and the parser's report on the version row."""
    from lockgate.ingest.ocr import chunk_confidences

    if any(b.ocr_confidence is not None for b in parsed.blocks):
        for extra, conf in zip(chunk_extra, chunk_confidences(parsed, drafts), strict=True):
            extra["ocr_confidence"] = conf
    report: dict[str, Any] = dict(parsed.metadata)
    if parsed.ocr_pages:
        report["ocr"] = [asdict(p) for p in parsed.ocr_pages]
    if parsed.attachments:
        report["members"] = [a.name for a in parsed.attachments]
    version_extra["parse_metadata"] = json.dumps(report, default=str)


def count_ocr(summary: IngestSummary, source: str, parsed: ParsedDocument, policy: str) -> None:
    for page in parsed.ocr_pages:
        if page.flagged:
            summary.ocr_low_confidence.append(
                {
                    "source": source,
                    "page": page.page,
                    "confidence": page.confidence,
                    "action": "excluded" if policy == "exclude" else "indexed (marked)",
                }
            )
