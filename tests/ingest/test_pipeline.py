"""The ingest pipeline end to end: real files, the real MiniLM model, a real SQLite store.

Counts, quarantine and retry, unchanged reruns, new versions, duplicates, pruning, format
detection by content, and a `kill -9` in the middle of `lockgate ingest`."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docx
import pytest
from click.testing import CliRunner
from fpdf import FPDF
from sqlalchemy import Engine, text

from lockgate.cli import main
from lockgate.ingest.pipeline import Ingestor, IngestSummary
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from lockgate.store.db import make_engine
from tests.conftest import make_services, make_settings
from tests.support.store import store_env

# -- file makers -----------------------------------------------------------------------------


def pdf_bytes(*paragraphs: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for par in paragraphs:
        pdf.multi_cell(0, 8, text=par)
        pdf.ln(4)
    return bytes(pdf.output())


def docx_bytes(heading: str, body: str) -> bytes:
    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(body)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


ORIGINAL_MD = (
    "# Bicycle storage\n\n"
    "Bicycles are parked in the basement garage behind the blue door. "
    "The garage opens with your employee badge between 06:00 and 22:00.\n"
)
NOTES_V1 = (
    "Zanzibar ferry schedule. The Zanzibar ferry leaves the harbour at 07:30 every weekday "
    "and returns at 18:15. Tickets are bought at the kiosk next to the pier.\n"
)
NOTES_V2 = (
    "Quixotic lighthouse tours. The lighthouse tour starts at the museum entrance at 10:00 "
    "on Saturdays. Bring sturdy shoes, the staircase has 212 steps.\n"
)
REPORT_TEXT = (
    "Quarterly revenue report. Revenue for the third quarter grew by eleven percent compared "
    "with the second quarter, driven by the new enterprise contracts in Rotterdam."
)
DISGUISED_TEXT = (
    "Warehouse inventory memo. The warehouse in Toronto counted four hundred pallets of "
    "recycled cardboard during the annual stock take."
)


def ingestor(services: Services) -> Ingestor:
    return Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest)


def run(services: Services, root: Path, prune: bool = False) -> IngestSummary:
    return ingestor(services).run([str(root)], prune=prune)


@pytest.fixture
def svc(tmp_path: Path, embedder: MiniLMEmbedder) -> Services:
    return make_services(make_settings(tmp_path / "home"), embedder)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder with good files, a duplicate, and three files that must be quarantined."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "original.md").write_text(ORIGINAL_MD)
    (root / "zz-duplicate.md").write_bytes((root / "original.md").read_bytes())
    (root / "notes.txt").write_text(NOTES_V1)
    (root / "report.pdf").write_bytes(pdf_bytes(REPORT_TEXT))
    # A PDF with a .txt name: detection must go by content.
    (root / "disguised.txt").write_bytes(pdf_bytes(DISGUISED_TEXT))
    full = pdf_bytes("Truncated appendix. " * 20, "Second paragraph of the appendix. " * 20)
    (root / "truncated.pdf").write_bytes(full[: len(full) // 2])
    (root / "empty.txt").write_bytes(b"")
    (root / "random.docx").write_bytes(random.Random(7).randbytes(4096))
    return root.resolve()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Fewer files to embed: an original, its duplicate, a text file and a PDF named .txt."""
    root = tmp_path / "small"
    root.mkdir()
    (root / "original.md").write_text(ORIGINAL_MD)
    (root / "zz-duplicate.md").write_bytes((root / "original.md").read_bytes())
    (root / "notes.txt").write_text(NOTES_V1)
    (root / "disguised.txt").write_bytes(pdf_bytes(DISGUISED_TEXT))
    return root.resolve()


# -- store inspection --------------------------------------------------------------------------


# The chunk ids in the full-text index, all or those matching a word, per dialect.
FTS_IDS = {
    "sqlite": "SELECT rowid FROM chunks_fts",
    "postgresql": "SELECT chunk_id FROM chunks_tsv",
}
FTS_MATCH = {
    "sqlite": "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH :q",
    "postgresql": "SELECT chunk_id FROM chunks_tsv WHERE tsv @@ plainto_tsquery('english', :q)",
}


def check_consistent(engine: Engine) -> dict[str, int]:
    """The invariants a crash must never break; returns a few counts for further checks."""
    with engine.connect() as con:

        def rows(sql: str) -> list[Any]:
            return list(con.execute(text(sql)).all())

        wrong_counts = rows(
            "SELECT v.id, v.chunk_count, "
            "(SELECT count(*) FROM chunks c WHERE c.version_id = v.id AND c.active = 1) "
            "FROM document_versions v WHERE v.status = 'active'"
        )
        assert [r for r in wrong_counts if r[1] != r[2]] == []
        stray = rows(
            "SELECT count(*) FROM chunks c JOIN document_versions v ON v.id = c.version_id "
            "WHERE c.active = 1 AND v.status != 'active'"
        )[0][0]
        assert stray == 0
        active_ids = {r[0] for r in rows("SELECT id FROM chunks WHERE active = 1")}
        fts = [r[0] for r in rows(FTS_IDS[engine.dialect.name])]
        assert len(fts) == len(active_ids)
        assert set(fts) == active_ids
        pending = rows("SELECT count(*) FROM documents WHERE status = 'pending'")[0]
        assert pending[0] == 0
        # An active document points at an active version of itself; nothing else is active.
        bad_docs = rows(
            "SELECT d.id FROM documents d LEFT JOIN document_versions v "
            "ON v.id = d.current_version_id "
            "WHERE d.status = 'active' AND (v.id IS NULL OR v.status != 'active' "
            "OR v.document_id != d.id)"
        )
        assert bad_docs == []
        orphan_versions = rows(
            "SELECT v.id FROM document_versions v JOIN documents d ON d.id = v.document_id "
            "WHERE v.status = 'active' AND (d.current_version_id IS NULL "
            "OR d.current_version_id != v.id)"
        )
        assert orphan_versions == []
        docs = rows("SELECT count(*) FROM documents WHERE status = 'active'")[0]
        return {"documents": docs[0], "chunks": len(active_ids)}


def doc_rows(services: Services) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in services.documents.list_documents()}


def quarantine_rows(services: Services) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in services.documents.list_quarantine()}


def fts_rowids(services: Services, match: str) -> set[int]:
    with services.engine.connect() as conn:
        rows = conn.execute(text(FTS_MATCH[services.engine.dialect.name]), {"q": match})
        return {r[0] for r in rows}


def chunk_ids(services: Services, where: str, **params: object) -> set[int]:
    with services.engine.connect() as conn:
        return {r[0] for r in conn.execute(text(f"SELECT id FROM chunks WHERE {where}"), params)}


def search_sources(services: Services, query: str, k: int = 10) -> list[str]:
    return [Path(c.source).name for c in services.retriever.search(query, k).chunks]


# -- tests -------------------------------------------------------------------------------------


def test_first_run_counts_quarantine_and_retry(svc: Services, mixed: Path) -> None:
    first = run(svc, mixed)
    assert (first.seen, first.new, first.updated, first.unchanged) == (8, 4, 0, 0)
    assert (first.duplicates, first.quarantined, first.retired) == (1, 3, 0)
    stored_chunks = chunk_ids(svc, "1 = 1")
    assert first.chunks == len(stored_chunks) > 0
    reasons = {Path(q.source).name: q.reason for q in first.quarantined_files}
    assert set(reasons) == {"truncated.pdf", "empty.txt", "random.docx"}
    assert (reasons["truncated.pdf"], reasons["empty.txt"]) == ("corrupted", "empty")
    assert reasons["random.docx"] in ("unsupported", "corrupted")
    quarantined = quarantine_rows(svc)
    assert quarantined["truncated.pdf"]["reason"] == "corrupted"
    assert "truncated" in quarantined["truncated.pdf"]["detail"].lower()
    assert quarantined["empty.txt"]["reason"] == "empty"
    assert quarantined["random.docx"]["reason"] in ("unsupported", "corrupted")
    assert {r["attempts"] for r in quarantined.values()} == {1}
    # Nothing that failed became a document.
    assert set(doc_rows(svc)) == {
        "original.md", "zz-duplicate.md", "notes.txt", "report.pdf", "disguised.txt"
    }
    # The run is recorded with its summary.
    recorded = svc.runs.latest(1)[0]
    assert recorded["id"] == first.run_id
    assert recorded["finished_at"] is not None
    assert recorded["summary"]["new"] == 4 and recorded["summary"]["chunks"] == first.chunks
    check_consistent(svc.engine)

    # Rerun without changes: nothing new is written, failures are retried.
    generation = svc.documents.index_generation()
    second = run(svc, mixed)
    assert (second.seen, second.new, second.updated, second.unchanged) == (8, 0, 0, 4)
    assert (second.duplicates, second.quarantined, second.chunks) == (1, 3, 0)
    assert chunk_ids(svc, "1 = 1") == stored_chunks
    assert svc.documents.index_generation() == generation
    assert {name: r["attempts"] for name, r in quarantine_rows(svc).items()} == {
        "truncated.pdf": 2, "empty.txt": 2, "random.docx": 2
    }
    assert all(r["version"] == 1 for r in doc_rows(svc).values() if r["status"] == "active")

    # Fix the broken files: they leave quarantine and become documents.
    (mixed / "truncated.pdf").write_bytes(pdf_bytes("The appendix is complete now."))
    (mixed / "empty.txt").write_text("No longer empty: the canteen serves soup on Fridays.\n")
    (mixed / "random.docx").write_bytes(
        docx_bytes("Parking", "Visitors park on level minus two of the parking garage.")
    )
    third = run(svc, mixed)
    assert (third.seen, third.new, third.updated, third.unchanged) == (8, 3, 0, 4)
    assert (third.duplicates, third.quarantined) == (1, 0)
    assert third.quarantined_files == []
    assert svc.documents.list_quarantine() == []
    rows = doc_rows(svc)
    fixed = ("truncated.pdf", "empty.txt", "random.docx")
    assert {n: (rows[n]["status"], rows[n]["format"]) for n in fixed} == {
        "truncated.pdf": ("active", "pdf"),
        "empty.txt": ("active", "text"),
        "random.docx": ("active", "docx"),
    }
    assert search_sources(svc, "what soup does the canteen serve on Fridays", 1) == ["empty.txt"]
    check_consistent(svc.engine)


def test_random_docx_reason_is_unsupported_or_corrupted(svc: Services, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "noise.docx").write_bytes(random.Random(1).randbytes(2048))
    # Random bytes behind a zip signature reach the docx parser and fail there.
    (root / "zipnoise.docx").write_bytes(b"PK\x03\x04" + random.Random(2).randbytes(2048))
    summary = run(svc, root)
    assert summary.quarantined == 2 and summary.new == 0
    reasons = {Path(q.source).name: q.reason for q in summary.quarantined_files}
    assert reasons["noise.docx"] in ("unsupported", "corrupted")
    assert reasons["zipnoise.docx"] == "corrupted"


def test_pdf_named_txt_is_parsed_as_pdf(svc: Services, small: Path) -> None:
    assert run(svc, small).new == 3
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(svc.settings.home)
    result = CliRunner().invoke(main, ["docs", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {Path(r["source"]).name: r for r in json.loads(result.stdout)}
    assert rows["disguised.txt"]["format"] == "pdf"
    assert rows["disguised.txt"]["pages"] == 1
    assert rows["notes.txt"]["format"] == "text"
    assert rows["original.md"]["format"] == "markdown"
    hits = svc.retriever.search("pallets of recycled cardboard in the warehouse", 1).chunks
    assert Path(hits[0].source).name == "disguised.txt"
    assert hits[0].page == 1


def test_changed_file_gets_a_new_version_and_old_chunks_leave_every_index(
    svc: Services, mixed: Path
) -> None:
    run(svc, mixed)
    doc_id = doc_rows(svc)["notes.txt"]["id"]
    v1_chunks = chunk_ids(svc, "document_id = :d", d=doc_id)
    assert v1_chunks and fts_rowids(svc, "zanzibar") == v1_chunks
    before = svc.retriever.search("Zanzibar ferry schedule", 3).chunks
    assert before[0].chunk_id in v1_chunks  # also loads the vector index before the change

    (mixed / "notes.txt").write_text(NOTES_V2)
    summary = run(svc, mixed)
    assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 3)
    assert summary.chunks == len(chunk_ids(svc, "document_id = :d AND active = 1", d=doc_id))

    row = doc_rows(svc)["notes.txt"]
    assert (row["id"], row["version"], row["status"]) == (doc_id, 2, "active")
    with svc.engine.connect() as conn:
        versions = conn.execute(
            text("SELECT version, status, retired_at FROM document_versions "
                 "WHERE document_id = :d ORDER BY version"),
            {"d": doc_id},
        ).all()
    assert [(v[0], v[1]) for v in versions] == [(1, "retired"), (2, "active")]
    assert versions[0][2] is not None
    # v1 chunks are kept for history but inactive...
    assert chunk_ids(svc, "document_id = :d AND active = 0", d=doc_id) == v1_chunks
    # ...and gone from the full-text index, by word and by rowid.
    assert fts_rowids(svc, "zanzibar") == set()
    with svc.engine.connect() as conn:
        indexed = set(conn.execute(text(FTS_IDS[svc.engine.dialect.name])).scalars())
    assert not indexed & v1_chunks
    v2_chunks = chunk_ids(svc, "document_id = :d AND active = 1", d=doc_id)
    assert fts_rowids(svc, "lighthouse") == v2_chunks != set()
    # ...and from search, including the already-loaded vector index.
    after = svc.retriever.search("Zanzibar ferry schedule", 10).chunks
    assert not {c.chunk_id for c in after} & v1_chunks
    assert all(c.version == 2 for c in after if c.document_id == doc_id)
    assert all("Zanzibar" not in c.text for c in after)
    top = svc.retriever.search("lighthouse tour on Saturdays", 1).chunks[0]
    assert (top.document_id, top.version) == (doc_id, 2)
    check_consistent(svc.engine)


def test_duplicate_is_recorded_and_has_no_chunks(svc: Services, small: Path) -> None:
    summary = run(svc, small)
    assert summary.duplicates == 1
    rows = doc_rows(svc)
    dup, original = rows["zz-duplicate.md"], rows["original.md"]
    assert dup["status"] == "duplicate"
    assert dup["duplicate_of"] == original["id"]
    assert dup["version"] is None and dup["chunk_count"] is None
    assert original["status"] == "active" and original["duplicate_of"] is None
    assert chunk_ids(svc, "document_id = :d", d=dup["id"]) == set()
    hits = search_sources(svc, "where are bicycles parked in the garage", 10)
    assert hits[0] == "original.md"
    assert "zz-duplicate.md" not in hits


def test_duplicate_becomes_a_document_when_it_diverges(svc: Services, small: Path) -> None:
    run(svc, small)
    (small / "zz-duplicate.md").write_text(ORIGINAL_MD + "\nScooters go to the same garage.\n")
    summary = run(svc, small)
    assert (summary.new, summary.duplicates) == (1, 0)
    row = doc_rows(svc)["zz-duplicate.md"]
    assert (row["status"], row["duplicate_of"], row["version"]) == ("active", None, 1)
    check_consistent(svc.engine)


def test_prune_retires_deleted_files(svc: Services, mixed: Path) -> None:
    run(svc, mixed)
    doc_id = doc_rows(svc)["report.pdf"]["id"]
    report_chunks = chunk_ids(svc, "document_id = :d", d=doc_id)
    assert "report.pdf" in search_sources(svc, "quarterly revenue growth", 3)
    (mixed / "report.pdf").unlink()

    # Without --prune a missing file stays searchable.
    kept = run(svc, mixed)
    assert (kept.seen, kept.retired) == (7, 0)
    assert doc_rows(svc)["report.pdf"]["status"] == "active"

    pruned = run(svc, mixed, prune=True)
    assert (pruned.seen, pruned.retired, pruned.new, pruned.updated) == (7, 1, 0, 0)
    assert doc_rows(svc)["report.pdf"]["status"] == "retired"
    assert chunk_ids(svc, "document_id = :d AND active = 1", d=doc_id) == set()
    assert fts_rowids(svc, "revenue") == set()
    assert not {c.chunk_id for c in svc.retriever.search("quarterly revenue growth", 10).chunks} & (
        report_chunks
    )
    assert "report.pdf" not in search_sources(svc, "quarterly revenue growth", 10)
    # Other documents are untouched, and pruning again retires nothing more.
    assert doc_rows(svc)["notes.txt"]["status"] == "active"
    assert run(svc, mixed, prune=True).retired == 0
    check_consistent(svc.engine)

    # The file comes back: it is a document again, as a new version.
    (mixed / "report.pdf").write_bytes(pdf_bytes(REPORT_TEXT))
    back = run(svc, mixed)
    assert back.updated == 1
    row = doc_rows(svc)["report.pdf"]
    assert (row["status"], row["version"]) == ("active", 2)
    assert "report.pdf" in search_sources(svc, "quarterly revenue growth", 3)


def test_prune_drops_quarantine_entries_of_deleted_files_only(
    svc: Services, tmp_path: Path
) -> None:
    top = tmp_path / "all"
    a = top / "corpus"
    b = top / "corpus-2"  # shares a string prefix with `corpus`, but is not inside it
    for root in (a, b):
        root.mkdir(parents=True)
        (root / "empty.txt").write_bytes(b"")
        (root / "keep.md").write_text(f"# {root.name}\n\nThe {root.name} folder is kept.\n")
    run(svc, top)
    assert len(svc.documents.list_quarantine()) == 2
    (a / "empty.txt").unlink()
    run(svc, a, prune=True)
    left = [Path(q["source"]) for q in svc.documents.list_quarantine()]
    assert left == [(b / "empty.txt").resolve()]


def test_renamed_file_with_prune_stays_searchable(svc: Services, mixed: Path) -> None:
    run(svc, mixed)
    (mixed / "notes.txt").rename(mixed / "travel-notes.txt")
    summary = run(svc, mixed, prune=True)
    assert (summary.retired, summary.new, summary.updated) == (1, 1, 0)
    assert summary.duplicates == 1  # zz-duplicate.md, not the renamed file
    rows = doc_rows(svc)
    assert rows["notes.txt"]["status"] == "retired"
    assert rows["travel-notes.txt"]["status"] == "active"
    assert search_sources(svc, "Zanzibar ferry schedule", 1) == ["travel-notes.txt"]
    check_consistent(svc.engine)


# -- crash safety ------------------------------------------------------------------------------

# Enough that the run is still going after its first commits, few enough for a slow CI box.
CRASH_FILES = 40


def _lockgate_cmd() -> list[str]:
    script = Path(sys.executable).parent / "lockgate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lockgate.cli"]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(home)
    # One torch thread: on a busy two-core CI box, two spinning threads make embedding ~8x slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _committed_documents(db: Path, store: Engine | None) -> int:
    if store is not None:  # PostgreSQL: the leased database is migrated already
        with store.connect() as conn:
            active = "SELECT count(*) FROM documents WHERE status = 'active'"
            return int(conn.execute(text(active)).scalar_one())
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute(
                "SELECT count(*) FROM documents WHERE status = 'active'"
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # schema not created yet


def test_kill_9_during_ingest_leaves_a_consistent_store(tmp_path: Path) -> None:
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(CRASH_FILES):
        body = (
            f"Record {i} describes warehouse {i * 7 + 3}. It stores crate number {i * 13 + 1} "
            f"and ships to depot {i % 11} on weekday {i % 5}."
        )
        if i % 2:
            (docs / f"doc-{i:03d}.md").write_text(f"# Warehouse {i}\n\n{body}\n")
        else:
            (docs / f"doc-{i:03d}.txt").write_text(body + "\n")
    home = tmp_path / "home"
    db = home / "lockgate.db"
    env = {**_clean_env(home), **store_env(home)}
    # On SQLite the file is read as the child writes it (read-only, not to disturb it); on
    # PostgreSQL through an engine on the same database.
    url = make_settings(home).store_url
    store = None if url.startswith("sqlite") else make_engine(url)
    with (tmp_path / "first.err").open("wb") as err:
        proc = subprocess.Popen(
            [*_lockgate_cmd(), "ingest", str(docs), "--json"],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if _committed_documents(db, store) >= 2:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, "ingest ended before it could be killed: " + (
                (tmp_path / "first.err").read_text()
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL

    committed = _committed_documents(db, store)
    assert 2 <= committed < CRASH_FILES
    engine = store or make_engine(url)
    counts = check_consistent(engine)
    assert counts["documents"] == committed
    with engine.connect() as conn:
        unfinished = conn.execute(
            text("SELECT count(*) FROM ingest_runs WHERE finished_at IS NULL")
        ).scalar_one()
    assert unfinished == 1

    rerun = subprocess.run(
        [*_lockgate_cmd(), "ingest", str(docs), "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["seen"] == CRASH_FILES
    assert summary["unchanged"] == committed
    assert summary["new"] + summary["unchanged"] == CRASH_FILES
    assert (summary["updated"], summary["duplicates"], summary["quarantined"]) == (0, 0, 0)
    after = check_consistent(engine)
    assert after["documents"] == CRASH_FILES
    assert after["chunks"] >= CRASH_FILES
