"""Documents carry an access list from ingest (tenant, groups) and both sides of hybrid
retrieval filter on it inside the query: the BM25 SQL and the vector mask decide the top k
among visible rows only, so rows a caller may not see never take a place in it. One tenant's
upload never replaces, hides or dedupes against another's document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockgate.ingest.pipeline import Ingestor
from lockgate.retrieval.hybrid import SearchFilters
from lockgate.services import Services
from lockgate.store.access import Access
from tests.conftest import make_services, make_settings

SECRET_A = "The orchid vault combination for tenant alpha is seven nine three."
SECRET_HR = "Alpha payroll bands: the orchid grade pays ninety thousand."
SECRET_B = "Beta keeps its orchid seeds in greenhouse number four."


def _ingest(services: Services, path: Path, access: Access) -> object:
    ing = Ingestor(
        services.documents,
        services.runs,
        services.embedder,
        services.settings.ingest,
        access=access,
    )
    return ing.run([str(path)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Services, Path]:
    home = tmp_path_factory.mktemp("access-home")
    root = tmp_path_factory.mktemp("access-docs")
    for sub, name, text in (
        ("a", "vault.md", SECRET_A),
        ("hr", "payroll.md", SECRET_HR),
        ("b", "greenhouse.md", SECRET_B),
    ):
        (root / sub).mkdir()
        (root / sub / name).write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
    services = make_services(make_settings(home), embedder)
    assert _ingest(services, root / "a", Access.of("alpha")).new == 1  # type: ignore[attr-defined]
    hr = _ingest(services, root / "hr", Access.of("alpha", ["hr"]))
    assert hr.new == 1  # type: ignore[attr-defined]
    assert _ingest(services, root / "b", Access.of("beta")).new == 1  # type: ignore[attr-defined]
    return services, root


def _texts(services: Services, query: str, **filters: object) -> list[str]:
    result = services.retriever.search(query, 10, SearchFilters(**filters))  # type: ignore[arg-type]
    return [c.text for c in result.chunks]


def test_documents_record_their_tenant_and_groups(corpus) -> None:
    services, root = corpus
    known = services.documents.known_sources()
    assert known[str(root / "a" / "vault.md")].tenant == "alpha"
    assert known[str(root / "hr" / "payroll.md")].acl == '["hr"]'
    assert known[str(root / "b" / "greenhouse.md")].tenant == "beta"


def test_hybrid_search_returns_only_what_the_caller_may_see(corpus) -> None:
    services, _ = corpus
    everything = " ".join(_texts(services, "orchid"))
    assert SECRET_A in everything and SECRET_B in everything and SECRET_HR in everything
    beta = " ".join(_texts(services, "orchid vault combination alpha", tenant="beta"))
    assert SECRET_B in beta and SECRET_A not in beta and SECRET_HR not in beta
    alpha = " ".join(_texts(services, "orchid", tenant="alpha"))
    assert SECRET_A in alpha and SECRET_HR not in alpha and SECRET_B not in alpha
    hr = " ".join(_texts(services, "orchid", tenant="alpha", groups=("hr",)))
    assert SECRET_A in hr and SECRET_HR in hr and SECRET_B not in hr
    assert _texts(services, "orchid", tenant="gamma") == []


def test_bm25_filters_inside_the_query(corpus) -> None:
    services, _ = corpus
    index = services.retriever.text_index
    # limit=1: were the filter applied after the LIMIT, beta's best-matching row would be
    # alpha's, and beta would get nothing.
    hits = index.search("orchid vault combination alpha", 1, access=Access.of("beta"))
    assert len(hits) == 1
    rec = services.documents.chunks([hits[0].chunk_id])[hits[0].chunk_id]
    assert rec.text.endswith(SECRET_B)
    assert index.search("payroll bands", 5, access=Access.of("alpha")) == []
    assert len(index.search("payroll bands", 5, access=Access.of("alpha", ["hr", "x"]))) == 1


def test_vector_mask_applies_before_the_top_k(corpus) -> None:
    services, _ = corpus
    vectors = services.retriever.vectors
    qvec = services.embedder.embed([SECRET_A])[0]
    (best,) = vectors.search(qvec, 1)
    assert services.documents.chunks([best.chunk_id])[best.chunk_id].text.endswith(SECRET_A)
    (beta,) = vectors.search(qvec, 1, access=Access.of("beta"))
    assert services.documents.chunks([beta.chunk_id])[beta.chunk_id].text.endswith(SECRET_B)
    assert vectors.search(qvec, 5, access=Access.of("nobody")) == []
    assert len(vectors.search(qvec, 5, access=Access.of("alpha", ["hr"]))) == 2


def test_reingest_under_another_tenant_is_refused(corpus) -> None:
    services, root = corpus
    source = root / "a" / "vault.md"
    before = services.documents.known_sources()[str(source)]
    original = source.read_text(encoding="utf-8")
    source.write_text("# vault\n\nBeta overwrote this.\n", encoding="utf-8")
    try:
        summary = _ingest(services, root / "a", Access.of("beta"))
    finally:
        source.write_text(original, encoding="utf-8")
    assert summary.refused == 1 and summary.new == 0 and summary.updated == 0  # type: ignore[attr-defined]
    after = services.documents.known_sources()[str(source)]
    assert (after.tenant, after.version, after.content_hash) == (
        "alpha",
        before.version,
        before.content_hash,
    )
    # A prune as beta over alpha's folder retires nothing of alpha's.
    ing = Ingestor(
        services.documents,
        services.runs,
        services.embedder,
        services.settings.ingest,
        access=Access.of("beta"),
    )
    ing.prune([str(root / "a")], set())
    assert services.documents.known_sources()[str(source)].status == "active"


def test_same_content_under_another_tenant_is_not_a_duplicate(corpus, tmp_path: Path) -> None:
    services, _ = corpus
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "vault.md").write_text(f"# vault.md\n\n{SECRET_A}\n", encoding="utf-8")
    summary = _ingest(services, copy, Access.of("gamma"))
    assert summary.new == 1 and summary.duplicates == 0  # type: ignore[attr-defined]
    assert SECRET_A in " ".join(_texts(services, "orchid vault", tenant="gamma"))


def test_changing_groups_reindexes_the_document(embedder, tmp_path: Path) -> None:
    services = make_services(make_settings(tmp_path / "home"), embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.md").write_text("# memo\n\nThe heron budget is frozen.\n", encoding="utf-8")
    assert _ingest(services, docs, Access.of("t", ["board"])).new == 1  # type: ignore[attr-defined]
    assert _texts(services, "heron budget", tenant="t") == []
    assert _ingest(services, docs, Access.of("t")).updated == 1  # type: ignore[attr-defined]
    assert _texts(services, "heron budget", tenant="t")


def test_ivf_index_masks_rows_too(embedder, tmp_path: Path) -> None:
    from lockgate.retrieval.vector import NumpyVectorIndex

    services = make_services(make_settings(tmp_path / "home"), embedder)
    docs = {t: tmp_path / t for t in ("x", "y")}
    for tenant, folder in docs.items():
        folder.mkdir()
        for i in range(12):
            (folder / f"{i}.md").write_text(
                f"# note {i}\n\nTenant {tenant} note {i} about kestrels and item {i * 7}.\n",
                encoding="utf-8",
            )
        _ingest(services, folder, Access.of(tenant))
    index = NumpyVectorIndex(services.documents, ivf_min_rows=8, ivf_probe=64)
    index.refresh()
    assert index.partitioned
    qvec = np.asarray(embedder.embed(["kestrels"])[0])
    hits = index.search(qvec, 30, access=Access.of("y"))
    assert len(hits) == 12
    recs = services.documents.chunks([h.chunk_id for h in hits])
    assert all("Tenant y" in r.text for r in recs.values())


def test_cli_ingest_and_search_by_tenant_and_groups(tmp_path: Path, embedder, monkeypatch) -> None:
    import json

    from click.testing import CliRunner

    import lockgate.cli.ingest as cli_ingest
    from lockgate.cli import main

    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))
    real = cli_ingest.source_sync

    def reuse_model(obj):  # the session's embedder instead of loading another
        sync = real(obj)
        sync.ingestor.embedder = embedder
        return sync

    monkeypatch.setattr(cli_ingest, "source_sync", reuse_model)
    for name, text in (("a", SECRET_A), ("hr", SECRET_HR)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.md").write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(main, ["ingest", str(tmp_path / "a"), "--tenant", "alpha", "--json"])
    assert out.exit_code == 0, out.output
    args = ["ingest", str(tmp_path / "hr"), "--tenant", "alpha", "--groups", "hr, ops", "--json"]
    out = runner.invoke(main, args)
    assert out.exit_code == 0 and json.loads(out.output)["new"] == 1, out.output
    out = runner.invoke(main, ["ingest", str(tmp_path / "a"), "--tenant", "beta", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["refused"] == 1, out.output
    assert runner.invoke(main, ["ingest", str(tmp_path / "a"), "--tenant", " "]).exit_code == 2

    def search(*extra: str) -> str:
        res = runner.invoke(main, ["search", "orchid", "--json", *extra])
        assert res.exit_code == 0, res.output
        return " ".join(c["text"] for c in json.loads(res.output))

    assert search() == ""  # the default tenant owns none of these
    assert SECRET_A in search("--tenant", "alpha") and SECRET_HR not in search("--tenant", "alpha")
    assert SECRET_HR in search("--tenant", "alpha", "--groups", "ops")
    assert search("--tenant", "beta") == ""


def test_access_rules_by_path_in_config(embedder, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "home",
        ingest={
            "access": [
                {"match": "hr/*", "tenant": "t", "groups": ["hr"]},
                {"match": "*/board-*.md", "tenant": "t", "groups": ["board"]},
            ]
        },
    )
    services = make_services(settings, embedder)
    root = tmp_path / "kb"
    for rel, text in (
        ("hr/pay.md", "The falcon pay scale rises in May."),
        ("board-minutes.md", "The falcon board met in secret."),
        ("open.md", "The falcon cafeteria opens at nine."),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# note\n\n{text}\n", encoding="utf-8")
    assert _ingest(services, root, Access.of("t")).new == 3  # type: ignore[attr-defined]
    acl = {Path(s).name: k.acl for s, k in services.documents.known_sources().items()}
    assert acl == {"pay.md": '["hr"]', "board-minutes.md": '["board"]', "open.md": "[]"}
    seen = " ".join(_texts(services, "falcon", tenant="t", groups=("hr",)))
    assert "pay scale" in seen and "cafeteria" in seen and "board met" not in seen
    with pytest.raises(ValueError):
        make_settings(tmp_path / "h2", ingest={"access": [{"match": "", "tenant": "t"}]})
