"""Zip archives: members ingested recursively as linked documents, a corrupted member
quarantined with its reason without stopping the rest, and zip-bomb limits enforced."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lockgate.config import ArchiveConfig
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.types import ParseError, ParseOptions
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support import formats as f


def limits(**kw: object) -> ParseOptions:
    return ParseOptions(archives=ArchiveConfig(**kw))  # type: ignore[arg-type]


def test_members_listed_and_bad_crc_member_carries_its_error() -> None:
    doc = parse_bytes(f.zip_with_corrupted_member(), "bundle.zip")
    by_name = {a.name: a for a in doc.attachments}
    assert set(by_name) == {"good.txt", "policies/returns.md", "inner.zip", "broken.docx",
                            "crc.txt"}
    assert by_name["crc.txt"].error is not None
    assert by_name["crc.txt"].error.reason == "corrupted"
    assert by_name["good.txt"].data.startswith(b"Dock doors")


def test_zip_bomb_ratio_is_refused() -> None:
    with pytest.raises(ParseError) as err:
        parse_bytes(f.zip_bomb(ratio_mb=20), "bomb.zip")
    assert err.value.reason == "zip_bomb"


def test_member_count_total_size_and_depth_limits() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}.txt", f"file number {i} " * 50)
    data = buf.getvalue()
    with pytest.raises(ParseError) as err:
        parse_bytes(data, "many.zip", limits(max_members=4))
    assert err.value.reason == "archive_limit"
    with pytest.raises(ParseError) as err:
        parse_bytes(data, "many.zip", limits(max_total_mb=0.001))
    assert err.value.reason == "archive_limit"
    with pytest.raises(ParseError) as err:
        parse_bytes(data, "many.zip", ParseOptions(archives=ArchiveConfig(max_depth=2), depth=2))
    assert err.value.reason == "archive_limit"


def test_member_lying_about_its_size_never_inflates_past_it() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.txt", b"a" * 200_000)
    data = bytearray(buf.getvalue())
    # Rewrite the declared uncompressed size (local header and central directory) to 1,000.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (1000).to_bytes(4, "little")
    lh = data.find(b"PK\x03\x04")
    data[lh + 22 : lh + 26] = (1000).to_bytes(4, "little")
    try:
        doc = parse_bytes(bytes(data), "liar.zip")
    except ParseError as exc:
        assert exc.reason in ("zip_bomb", "corrupted")
        return
    (member,) = doc.attachments
    assert member.error is not None or len(member.data) <= 1000


@pytest.fixture
def services(tmp_path: Path, embedder: MiniLMEmbedder) -> Services:
    return make_services(make_settings(tmp_path / "home"), embedder)


def test_zip_ingested_recursively_corrupted_member_quarantined(
    tmp_path: Path, services: Services
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "bundle.zip").write_bytes(f.zip_with_corrupted_member())
    ing = Ingestor(services.documents, services.runs, services.embedder,
                   services.settings.ingest)
    summary = ing.run([str(root)])
    archive = str((root / "bundle.zip").resolve())
    reasons = {q.source.removeprefix(archive): q.reason for q in summary.quarantined_files}
    assert reasons == {"#broken.docx": "corrupted", "#crc.txt": "corrupted"}
    known = services.documents.known_sources()
    for member in ("", "#good.txt", "#policies/returns.md", "#inner.zip",
                   "#inner.zip#deep/note.txt"):
        assert known[archive + member].status == "active", member
    assert summary.members == 6  # 5 in the archive, 1 in the nested one
    hit = services.retriever.search("What is the gate code?", 1).chunks[0]
    assert hit.source == archive + "#inner.zip#deep/note.txt"
    quarantine = {q["source"]: q for q in services.documents.list_quarantine()}
    assert "Bad CRC" in quarantine[archive + "#crc.txt"]["detail"]

    # A new version of the archive without good.txt: that member is retired, others stay.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("policies/returns.md", "# Returns\n\nRefunds take fourteen days.\n")
    (root / "bundle.zip").write_bytes(buf.getvalue())
    ing.run([str(root)])
    known = services.documents.known_sources()
    assert known[archive + "#good.txt"].status == "retired"
    assert known[archive + "#inner.zip#deep/note.txt"].status == "retired"
    assert known[archive + "#policies/returns.md"].status == "active"
    assert archive + "#crc.txt" not in {q["source"] for q in services.documents.list_quarantine()}


def test_nesting_deeper_than_the_limit_is_quarantined(
    tmp_path: Path, services: Services
) -> None:
    root = tmp_path / "deep"
    root.mkdir()
    (root / "russian.zip").write_bytes(f.nested_zip(depth=5))
    ing = Ingestor(services.documents, services.runs, services.embedder,
                   services.settings.ingest)
    summary = ing.run([str(root)])
    assert [q.reason for q in summary.quarantined_files] == ["archive_limit"]
    assert summary.quarantined_files[0].source.count("#") == 3  # max_depth 3
