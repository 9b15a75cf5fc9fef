"""`lockgate ingest` with a remote embedder that is down: each document is quarantined as
`embedding_failed`, the command says so and exits 1, and `docs retry` indexes them once the
embedder is back."""

from __future__ import annotations

from pathlib import Path

from bench.fake_embed_server import FakeEmbedServer
from tests.support.server import free_port
from tests.test_cli import invoke


def _env(base_url: str) -> dict[str, str]:
    return {
        "LOCKGATE_EMBEDDINGS__BACKEND": "openai",
        "LOCKGATE_EMBEDDINGS__BASE_URL": base_url,
        "LOCKGATE_EMBEDDINGS__UPSTREAM_MODEL": "fake-embed",
        "LOCKGATE_EMBEDDINGS__RETRY__RETRIES": "1",
        "LOCKGATE_EMBEDDINGS__RETRY__BACKOFF_BASE_MS": "1",
        "LOCKGATE_EMBEDDINGS__RETRY__BACKOFF_MAX_MS": "5",
    }


def test_a_down_embedder_fails_the_run_clearly_and_retry_recovers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nThe alpha team ships on Mondays.\n")
    (docs / "b.md").write_text("# Beta\n\nThe beta team ships on Fridays.\n")
    home = tmp_path / "home"

    down = invoke(
        ["ingest", str(docs)], home, tmp_path, env=_env(f"http://127.0.0.1:{free_port()}/v1")
    )
    assert down.exit_code == 1, down.output
    assert "quarantined 0" not in down.stdout
    assert "embedding_failed - embedding upstream failed (ConnectError) after 2 attempts" in (
        down.stdout
    )
    assert "the embedder failed 2 document(s)" in down.stderr
    assert "Traceback" not in down.output

    with FakeEmbedServer(dim=8) as srv:
        retried = invoke(["docs", "retry", "--json"], home, tmp_path, env=_env(srv.base_url))
        assert retried.exit_code == 0, retried.output
        assert '"new": 2' in retried.stdout
        assert srv.stats.inputs == 2
