"""Typed configuration: layering, validation, masking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.config import ConfigError, load_settings, masked
from lockgate.ingest.pipeline import iter_files


def test_env_overrides_yaml_and_yaml_overrides_defaults(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("retrieval:\n  top_k: 3\n  candidates: 7\n")
    monkeypatch.setenv("LOCKGATE_RETRIEVAL__TOP_K", "9")
    s = load_settings(cfg)
    assert (s.retrieval.top_k, s.retrieval.candidates, s.retrieval.rrf_k) == (9, 7, 60)


def test_configured_models_extend_the_builtin_registry(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("models:\n  big:\n    backend: openai\n    base_url: http://127.0.0.1:1/v1\n")
    assert set(load_settings(cfg).models) == {"gemma-3-270m", "big"}


def test_grounded_model_must_be_in_registry(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("models:\n  gemma-3-270m: null\n")
    with pytest.raises(ConfigError, match="grounded.model 'gemma-3-270m' is not in models"):
        load_settings(cfg)


def test_secrets_masked_in_userinfo_and_query(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("store:\n  url: postgresql://app:hunter2@db/x?sslmode=require&password=s3cret\n")
    shown = masked(load_settings(cfg))["store"]["url"]
    assert "hunter2" not in shown and "s3cret" not in shown
    # Every query value is hidden: the masker cannot tell an option from a credential.
    assert shown == "postgresql://app:****@db/x?sslmode=****&password=****"


PLANTED = "XOXBWEBHOOKSECRET"


def test_secrets_outside_the_usual_keys_are_masked(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(
        "ingest:\n"
        f"  alerts: {{webhook_url: 'https://hooks.example/services/T000/B000/{PLANTED}'}}\n"
        "  sources:\n"
        "    - {name: kb, kind: url, uri: 'https://intranet.example/doc?sig=PRESIGNEDSIG"
        "&X-Amz-Credential=AKIDSECRET'}\n"
        "models:\n"
        "  up:\n"
        "    backend: openai\n"
        "    base_url: https://proxy.internal/v1\n"
        "    params: {headers: {Authorization: 'Bearer sk-live-HEADERSECRET'}}\n"
    )
    shown = masked(load_settings(cfg))
    text = str(shown)
    for secret in (PLANTED, "PRESIGNEDSIG", "AKIDSECRET", "HEADERSECRET"):
        assert secret not in text
    assert shown["ingest"]["alerts"]["webhook_url"] == "https://hooks.example/****"
    assert shown["ingest"]["sources"][0]["uri"].startswith("https://intranet.example/****?sig=")
    assert shown["models"]["up"]["base_url"] == "https://proxy.internal/****"


def test_data_directory_inside_corpus_is_not_ingested(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "state").mkdir(parents=True)
    (docs / "a.txt").write_text("hello")
    (docs / "state" / "lockgate.db").write_bytes(b"SQLite format 3\x00")
    found = [p.name for p in iter_files([docs], exclude=[docs / "state"])]
    assert found == ["a.txt"]


def test_guardrails_routes_is_an_old_name_for_models(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("guardrails:\n  policies: {default: {}, strict: {}}\n  routes: {big: strict}\n")
    assert load_settings(cfg).guardrails.models == {"big": "strict"}
    cfg.write_text("guardrails:\n  routes: {big: nope}\n")
    with pytest.raises(ConfigError, match="unknown guardrail policy: nope"):
        load_settings(cfg)


def test_request_and_load_limits_take_env_overrides(tmp_path: Path, monkeypatch) -> None:
    for name, value in {
        "LOCKGATE_SERVER__HEADER_READ_TIMEOUT_S": "4.5",
        "LOCKGATE_SERVER__CPU__SLOTS": "3",
        "LOCKGATE_SERVER__CPU__MAX_WAITING": "7",
        "LOCKGATE_SERVER__GUARD_CHECK__MAX_CONTEXT_ITEMS": "5",
        "LOCKGATE_SERVER__EMBEDDINGS_MAX_INPUT_CHARS": "2048",
        "LOCKGATE_AUTH__TRUST_CLIENT_APP": "true",
        "LOCKGATE_LIMITS__MAX_BUCKETS": "5000",
    }.items():
        monkeypatch.setenv(name, value)
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("{}\n")
    s = load_settings(cfg)
    assert s.server.header_read_timeout_s == 4.5
    assert (s.server.cpu.slot_count(), s.server.cpu.max_waiting) == (3, 7)
    assert s.server.guard_check.max_context_items == 5
    assert s.server.embeddings_max_input_chars == 2048
    assert s.auth.trust_client_app is True and s.limits.max_buckets == 5000
    # The defaults: one CPU slot per core, a per-caller rate limit, the caller trusted with
    # nothing.
    monkeypatch.delenv("LOCKGATE_SERVER__CPU__SLOTS")
    monkeypatch.delenv("LOCKGATE_AUTH__TRUST_CLIENT_APP")
    d = load_settings(cfg)
    assert d.server.cpu.slot_count() == (os.cpu_count() or 1)
    assert d.limits.rules[0].rpm == 600 and d.auth.trust_client_app is False
