"""The `lockgate` command line against the bundled sample corpus.

Most commands run in-process through click's CliRunner (with the session's MiniLM model, so
the model loads once); exit codes and "no traceback" checks run the real executable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

import lockgate.services
from lockgate.cli import main
from lockgate.models.minilm import MiniLMEmbedder
from tests.conftest import SAMPLES
from tests.support.store import store_env


def invoke(
    args: list[str],
    home: Path,
    cwd: Path,
    embedder: MiniLMEmbedder | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    # Start from no LOCKGATE_* variables so the developer's environment cannot leak in.
    full_env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    full_env["LOCKGATE_HOME"] = str(home)
    full_env.update(env or {})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        if embedder is not None:
            # The same real model the command would build, already loaded.
            mp.setattr(lockgate.services, "build_embedder", lambda spec: embedder)
        return CliRunner().invoke(main, args, env=full_env, catch_exceptions=False)


def run_cli(args: list[str], home: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "lockgate"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lockgate.cli"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    full_env.update(LOCKGATE_HOME=str(home), **store_env(home), **env)
    return subprocess.run(
        [*cmd, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@dataclass
class Ingested:
    root: Path
    home: Path
    corpus: Path
    summary: dict

    def cli(self, *args: str, embedder: MiniLMEmbedder | None = None) -> Result:
        return invoke(list(args), self.home, self.root, embedder)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Ingested:
    root = tmp_path_factory.mktemp("cli")
    corpus = (root / "corpus").resolve()
    shutil.copytree(SAMPLES, corpus)
    home = root / "home"
    result = invoke(["ingest", str(corpus), "--json"], home, root, embedder)
    assert result.exit_code == 0, result.output
    return Ingested(root, home, corpus, json.loads(result.stdout))


# -- ingest ------------------------------------------------------------------------------------


def test_ingest_json_summary(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    s = ingested.summary
    for key in ("seen", "new", "updated", "unchanged", "duplicates", "quarantined", "chunks",
                "seconds", "quarantined_files"):
        assert key in s, key
    assert (s["seen"], s["new"], s["updated"], s["unchanged"]) == (9, 8, 0, 0)
    assert (s["duplicates"], s["quarantined"]) == (0, 1)
    assert s["chunks"] >= 8
    assert isinstance(s["seconds"], float) and s["seconds"] > 0
    truncated = str(ingested.corpus / "broken" / "truncated-report.pdf")
    assert [(q["source"], q["reason"]) for q in s["quarantined_files"]] == [
        (truncated, "corrupted")
    ]
    assert "truncated" in s["quarantined_files"][0]["detail"].lower()

    again = ingested.cli("ingest", str(ingested.corpus), "--json", embedder=embedder)
    assert again.exit_code == 0, again.output
    rerun = json.loads(again.stdout)
    assert (rerun["seen"], rerun["new"], rerun["unchanged"], rerun["chunks"]) == (9, 0, 8, 0)
    assert rerun["quarantined"] == 1


def test_ingest_plain_output(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    result = ingested.cli("ingest", str(ingested.corpus / "product"), embedder=embedder)
    assert result.exit_code == 0, result.output
    assert "seen 3" in result.stdout and "unchanged 3" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


# -- search ------------------------------------------------------------------------------------

QUERY = "hotel limit for tier 1 cities"


def search(ingested: Ingested, embedder: MiniLMEmbedder, *args: str) -> list[dict]:
    result = ingested.cli("search", *args, "--json", embedder=embedder)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_search_json(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    hits = search(ingested, embedder, QUERY, "-k", "3")
    assert len(hits) == 3
    for hit in hits:
        assert {"rank", "score", "source", "page", "chunk_id", "text"} <= set(hit)
        assert isinstance(hit["chunk_id"], int) and hit["text"].strip()
        assert Path(hit["source"]).is_relative_to(ingested.corpus)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    # Results are documents, best first: by the score of each document (its chunks
    # together), which the best chunk's own score need not follow.
    scores = [h["document_score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] >= hits[0]["score"]
    assert hits[0]["source"].endswith("travel-expenses.docx")
    assert "220" in hits[0]["text"]  # the tier 1 hotel limit
    assert len({h["chunk_id"] for h in hits}) == 3


def test_search_k_is_respected(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    assert len(search(ingested, embedder, QUERY, "-k", "1")) == 1
    assert len(search(ingested, embedder, QUERY, "-k", "7")) == 7
    # Without -k the configured default (retrieval.top_k = 5) applies.
    assert len(search(ingested, embedder, QUERY)) == 5
    bad = ingested.cli("search", QUERY, "-k", "0")
    assert bad.exit_code == 2


def test_search_source_prefix(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    prefix = str(ingested.corpus / "policies")
    hits = search(ingested, embedder, QUERY, "-k", "5", "--source-prefix", prefix)
    assert hits
    assert all(h["source"].startswith(prefix + os.sep) for h in hits)
    assert {Path(h["source"]).name for h in hits} <= {"refund-policy.md", "security-policy.html"}
    none = search(ingested, embedder, QUERY, "--source-prefix", str(ingested.root / "elsewhere"))
    assert none == []


def test_search_plain_and_empty_query(ingested: Ingested, embedder: MiniLMEmbedder) -> None:
    result = ingested.cli("search", QUERY, "-k", "2", embedder=embedder)
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith("1.")
    assert "travel-expenses.docx" in result.stdout.splitlines()[0]
    empty = ingested.cli("search", "   ")
    assert empty.exit_code == 2
    assert "empty query" in empty.stderr


# -- docs --------------------------------------------------------------------------------------


def test_docs_list_json(ingested: Ingested) -> None:
    result = ingested.cli("docs", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    formats = {Path(r["source"]).name: r["format"] for r in rows}
    assert formats == {
        "employee-handbook.pdf": "pdf",
        "travel-expenses.docx": "docx",
        "refund-policy.md": "markdown",
        "security-policy.html": "html",
        "faq.txt": "text",
        "pricing.csv": "csv",
        "service-levels.json": "json",
        "onboarding-guide.md": "markdown",
    }
    assert {r["status"] for r in rows} == {"active"}
    assert all(r["version"] == 1 and r["chunk_count"] >= 1 for r in rows)
    assert sum(r["chunk_count"] for r in rows) == ingested.summary["chunks"]
    handbook = next(r for r in rows if r["source"].endswith("employee-handbook.pdf"))
    assert handbook["pages"] and handbook["pages"] > 1

    plain = ingested.cli("docs", "list")
    assert plain.exit_code == 0
    assert plain.stdout.strip().endswith("8 document(s)")


def test_docs_quarantine_json(ingested: Ingested) -> None:
    result = ingested.cli("docs", "quarantine", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    assert rows[0]["source"] == str(ingested.corpus / "broken" / "truncated-report.pdf")
    assert rows[0]["reason"] == "corrupted"
    assert rows[0]["attempts"] >= 1
    plain = ingested.cli("docs", "quarantine")
    assert "truncated-report.pdf" in plain.stdout
    assert plain.stdout.strip().endswith("1 quarantined file(s)")


# -- config ------------------------------------------------------------------------------------

SECRET_CONFIG = """\
store:
  url: "postgresql://user:hunter2@localhost/db"
retrieval:
  top_k: 3
  candidates: 40
models:
  remote:
    backend: openai
    base_url: "http://127.0.0.1:9/v1"
    api_key_env: REMOTE_KEY
    params:
      api_key: "sk-live-s3cr3t"
"""


def _shown(result: Result) -> dict:
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "sk-live-s3cr3t" not in result.output
    return yaml.safe_load(result.stdout)


def test_config_show_masks_secrets_with_flag_and_env(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "lockgate.yaml"
    cfg.parent.mkdir()
    cfg.write_text(SECRET_CONFIG)
    home = tmp_path / "home"
    by_flag = _shown(invoke(["--config", str(cfg), "config", "show"], home, tmp_path))
    by_env = _shown(
        invoke(["config", "show"], home, tmp_path, env={"LOCKGATE_CONFIG": str(cfg)})
    )
    assert by_flag == by_env
    assert by_flag["store"]["url"] == "postgresql://user:****@localhost/db"
    assert (by_flag["retrieval"]["top_k"], by_flag["retrieval"]["candidates"]) == (3, 40)
    remote = by_flag["models"]["remote"]
    assert remote["params"]["api_key"] == "****"
    assert remote["api_key_env"] == "REMOTE_KEY"  # the variable's name is not a secret
    assert by_flag["home"] == str(home)


def test_config_show_env_override(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plain = _shown(invoke(["config", "show"], home, tmp_path))
    assert plain["retrieval"]["top_k"] == 5
    env = {"LOCKGATE_RETRIEVAL__TOP_K": "7"}
    result = invoke(["config", "show"], home, tmp_path, env=env)
    assert "top_k: 7" in result.stdout
    assert _shown(result)["retrieval"]["top_k"] == 7
    # The environment wins over the file, and the file's other keys in that section stay.
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(SECRET_CONFIG)
    merged = _shown(invoke(["config", "show"], home, tmp_path, env=env))  # ./lockgate.yaml
    assert (merged["retrieval"]["top_k"], merged["retrieval"]["candidates"]) == (7, 40)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("retrieval:\n  top_kk: 3\n", "retrieval.top_kk"),
        ("retrieval:\n  top_k: many\n", "retrieval.top_k"),
        ("server:\n  port: -1\n", "server.port"),
    ],
)
def test_invalid_config_exits_2_naming_the_key(tmp_path: Path, content: str, key: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    proc = run_cli(["--config", str(cfg), "config", "show"], tmp_path / "home", tmp_path)
    assert proc.returncode == 2
    assert f"'{key}'" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr + proc.stdout


def test_invalid_env_and_missing_config_file(tmp_path: Path) -> None:
    proc = run_cli(
        ["config", "show"], tmp_path / "home", tmp_path, LOCKGATE_SERVER__PORT="70000"
    )
    assert proc.returncode == 2
    assert "'server.port'" in proc.stderr and "Traceback" not in proc.stderr
    missing = run_cli(["config", "show"], tmp_path / "home", tmp_path,
                      LOCKGATE_CONFIG=str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert "config file not found" in missing.stderr and "Traceback" not in missing.stderr


# -- exit codes --------------------------------------------------------------------------------


def test_ingest_missing_path_exits_2(tmp_path: Path) -> None:
    proc = run_cli(["ingest", "/does/not/exist"], tmp_path / "home", tmp_path)
    assert proc.returncode == 2
    assert "no such file or folder: /does/not/exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "home" / "lockgate.db").exists()


def test_traces_show_unknown_exits_1(tmp_path: Path) -> None:
    proc = run_cli(["traces", "show", "nope"], tmp_path / "home", tmp_path)
    assert proc.returncode == 1
    assert "no trace nope" in proc.stderr
    assert "Traceback" not in proc.stderr
