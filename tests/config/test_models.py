"""The embedding spec's fallback rule: only the same model (declared name and vector length)
may stand in for the remote on the query path; anything else is refused at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lockgate.config import MINILM_MODEL_ID, ConfigError, EmbeddingSpec, load_settings

REMOTE: dict[str, Any] = {
    "backend": "openai",
    "base_url": "http://tei:8080/v1/",
    "upstream_model": MINILM_MODEL_ID,
    "dimensions": 384,
}


def test_fallback_by_backend_name() -> None:
    spec = EmbeddingSpec(**REMOTE, fallback="minilm")
    assert spec.fallback == EmbeddingSpec(backend="minilm")
    assert spec.base_url == "http://tei:8080/v1"


def test_a_declared_model_id_overrides_the_served_name() -> None:
    # Ollama names the model `all-minilm`; model_id says which model that is.
    spec = EmbeddingSpec(
        **{**REMOTE, "upstream_model": "all-minilm"},
        model_id=MINILM_MODEL_ID.upper(),
        fallback={"backend": "minilm", "int8": "off"},
    )
    assert spec.fallback is not None and spec.fallback.int8 == "off"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dimensions": None}, "dimensions: required with a fallback"),
        ({"dimensions": 768}, "fallback.dimensions: 384 differs from dimensions 768"),
        ({"upstream_model": "BAAI/bge-small-en-v1.5"}, "the fallback must compute the same"),
        ({"upstream_model": "all-minilm"}, "Declare the served model with model_id"),
    ],
)
def test_a_different_model_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EmbeddingSpec(**{**REMOTE, **changes}, fallback="minilm")


def test_a_custom_local_model_must_declare_what_it_is() -> None:
    with pytest.raises(ValidationError, match="same model"):
        EmbeddingSpec(**REMOTE, fallback={"backend": "minilm", "model_path": "/models/x"})
    EmbeddingSpec(
        **REMOTE,
        fallback={"backend": "minilm", "model_path": "/m/x", "model_id": MINILM_MODEL_ID},
    )


def test_no_chain_of_fallbacks() -> None:
    inner = {**REMOTE, "fallback": "minilm"}
    with pytest.raises(ValidationError, match="cannot have a fallback of its own"):
        EmbeddingSpec(**{**REMOTE, "fallback": inner})


def test_retry_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="backoff_max_ms must be at least"):
        EmbeddingSpec(retry={"backoff_base_ms": 500, "backoff_max_ms": 100})
    with pytest.raises(ValidationError):
        EmbeddingSpec(max_in_flight=0)


TEI_YAML = """
embeddings:
  backend: openai
  base_url: http://tei:8080/v1
  upstream_model: sentence-transformers/all-MiniLM-L6-v2
  dimensions: 384
  batch_size: 32
  max_in_flight: 4
  fallback: minilm
"""


def test_yaml_and_env_overrides(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(TEI_YAML)
    monkeypatch.setenv("LOCKGATE_EMBEDDINGS__MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("LOCKGATE_EMBEDDINGS__RETRY__QUERY_RETRIES", "0")
    s = load_settings(cfg).embeddings
    assert (s.max_in_flight, s.batch_size, s.retry.query_retries) == (8, 32, 0)
    assert s.fallback is not None and s.fallback.backend == "minilm"


def test_a_refused_fallback_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(TEI_YAML.replace("dimensions: 384", "dimensions: 768"))
    with pytest.raises(ConfigError, match="embeddings") as err:
        load_settings(cfg)
    assert "a fallback must be the same model" in str(err.value)
