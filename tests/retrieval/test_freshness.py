"""Near-duplicate versions, freshness policies and lineage through real retrieval: two
versions of a refund policy with different dates (the newer one must come first and the
older stay traceable), a document past its review-by date, and citations that lead to the
exact stored document version."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from lockgate.cli import main
from lockgate.config import FreshnessConfig
from lockgate.engine.citations import citation_objects
from lockgate.ingest.pipeline import Ingestor
from lockgate.store.quality import QualityStore
from tests.conftest import make_services, make_settings

BODY = """# Refund policy

Effective date: {date}

Customers on an annual plan can request a full refund within {days} days of the purchase
date. Monthly plans are not refundable; a cancellation takes effect at the end of the
current billing period. Enterprise contracts that end early are refunded pro-rated for the
unused months. Send refund requests to the billing team with the invoice number. Approved
refunds are paid within ten business days to the original payment method.
"""


def corpus(root: Path) -> Path:
    root.mkdir()
    # The older version is written last (newer mtime): the declared date must win.
    (root / "refund-2024.md").write_text(BODY.format(date="1 June 2024", days=30))
    (root / "refund-2022.md").write_text(BODY.format(date="15 March 2022", days=14))
    (root / "lockers.md").write_text(
        "---\nowner: Facilities\nreview_by: 2001-01-01\n---\n# Lockers\n\n"
        "Lockers on the second floor are assigned by the facilities desk for a\n"
        "refundable deposit.\n"
    )
    return root


def build(tmp_path: Path, embedder, **settings_kw: object):
    settings = make_settings(tmp_path / "home", **settings_kw)
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run(
        [str(corpus(tmp_path / "kb"))]
    )
    return services


def test_newer_near_duplicate_version_is_preferred_and_older_traceable(tmp_path, embedder):
    services = build(tmp_path, embedder)
    docs = {Path(d["source"]).name: d for d in services.documents.list_documents()}
    new, old = docs["refund-2024.md"], docs["refund-2022.md"]
    assert new["near_dup_group"] == old["near_dup_group"] is not None
    assert old["superseded_by"] == new["id"] and new["superseded_by"] is None
    assert (new["effective_date"], old["effective_date"]) == ("2024-06-01", "2022-03-15")

    result = services.retriever.search(
        "Within how many days can I get a refund on an annual plan?", k=3
    )
    top = result.chunks[0]
    assert top.document_id == new["id"] and "30 days" in top.text
    assert all(c.document_id != old["id"] for c in result.chunks)  # collapsed into the newer
    assert top.near_duplicates, "the older version stays traceable from the newer chunk"
    older = services.documents.chunks(top.near_duplicates)
    assert {r.document_id for r in older.values()} == {old["id"]}

    # Citations lead to the exact version: its content hash matches the stored version.
    (cite,) = citation_objects([1], result.chunks)
    version = QualityStore(services.engine).version(
        services.documents.chunks([cite["chunk_id"]])[cite["chunk_id"]].version_id
    )
    assert cite["content_hash"] == version["content_hash"] and cite["version"] == version["version"]
    assert top.lineage["parser"] == "markdown" and top.lineage["chunker"] == "structure/1"

    stale = {
        Path(r["source"]).name: r for r in QualityStore(services.engine).stale(date(2025, 1, 1))
    }
    assert set(stale) == {"refund-2022.md", "lockers.md"}
    assert stale["lockers.md"]["owner"] == "Facilities"


def test_freshness_policy_exclude_and_ignore(tmp_path, embedder):
    exclude = FreshnessConfig(stale="exclude", superseded="exclude")
    services = build(tmp_path, embedder, freshness=exclude)
    hits = services.retriever.search("refundable deposit for lockers", k=5).chunks
    names = {Path(c.source).name for c in hits}
    assert "lockers.md" not in names and "refund-2022.md" not in names
    services.retriever.freshness = FreshnessConfig(stale="downweight", superseded="ignore")
    services.retriever.near_dup_bits = 0  # no collapsing: both versions may show
    hits = services.retriever.search("refundable deposit for lockers", k=5).chunks
    lockers = [c for c in hits if Path(c.source).name == "lockers.md"]
    assert lockers and lockers[0].freshness["stale"].startswith("review overdue")
    assert lockers[0].freshness["weight"] == 0.5


def test_cli_docs_stale_list_show_and_search_json(tmp_path, embedder, monkeypatch):
    services = build(tmp_path, embedder)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))
    import lockgate.cli as cli

    monkeypatch.setattr(cli.Ctx, "services", lambda self: services)
    runner = CliRunner()
    out = runner.invoke(main, ["docs", "stale"])
    assert out.exit_code == 0, out.output
    assert "review overdue since 2001-01-01" in out.output and "superseded by #" in out.output
    assert "2 stale document(s)" in out.output
    assert "superseded by #" in runner.invoke(main, ["docs", "list"]).output
    out = runner.invoke(main, ["docs", "show", "refund-2022.md", "--json"])
    shown = json.loads(out.output)
    assert shown["version"]["effective_date"] == "2022-03-15"
    assert len(shown["near_duplicate_group"]) == 2
    out = runner.invoke(main, ["search", "refund annual plan days", "--json", "-k", "2"])
    first = json.loads(out.output)[0]
    assert first["source"].endswith("refund-2024.md")
    assert first["lineage"]["content_hash"] and first["near_duplicates"]
