"""The built-ins go through the same hooks as plugins; registries follow plugins that come and
go; names a config gives that no plugin registered fail with the config key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from lockgate.config import (
    ConfigError,
    GuardPolicy,
    GuardrailsConfig,
    IngestConfig,
    ScannerRule,
    SourceSpec,
)
from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import SCANNERS
from lockgate.ingest import strategies
from lockgate.ingest.parsers import REGISTRY as PARSERS
from lockgate.ingest.sources import SOURCES
from lockgate.ingest.sync import SourceSync
from lockgate.ingest.types import Block, ChunkDraft, ParsedDocument
from lockgate.plugins import Registry, hookimpl, registered
from lockgate.upstreams.registry import CHAT_BACKENDS, EMBEDDING_BACKENDS


def test_builtins_register_through_the_hooks() -> None:
    assert set(SCANNERS) >= {"pii", "injection", "toxicity", "topic", "leak", "grounding"}
    assert set(CHAT_BACKENDS) >= {"llama_cpp", "openai", "mock"}
    assert set(EMBEDDING_BACKENDS) >= {"minilm", "openai"}
    assert len({"text", "markdown", "pdf", "docx", "zip", "eml", "mbox"} & set(PARSERS)) == 7
    assert len(PARSERS) >= 19
    assert set(strategies.REGISTRY) >= {"structure", "fixed", "page", "sheet", "slide", "semantic"}
    assert set(SOURCES) >= {"folder", "url", "sitemap", "s3"}


class _Upper:
    name = "upper"

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        return [Finding("UPPER", 0, len(text), 1.0)] if text.isupper() else []


class _UpperScanner:
    class Params(ScannerParams):
        strict: bool = False

    name: ClassVar[str] = "upper"

    @classmethod
    def build(cls, params: Any, deps: ScannerDeps) -> _Upper:
        return _Upper()


def _whole(doc: ParsedDocument, target: int, overlap: int, embedder: Any) -> list[ChunkDraft]:
    return [ChunkDraft(0, doc.text)]


class _Plugin:
    @hookimpl
    def register_scanners(self, register: Any) -> None:
        register("upper", _UpperScanner)

    @hookimpl
    def register_chunkers(self, register: Any) -> None:
        register("whole", _whole)


def _engine(rule: ScannerRule) -> tuple[GuardEngine, GuardPolicy]:
    policy = GuardPolicy(input=[rule], context=[], output=[])
    return GuardEngine(GuardrailsConfig(policies={"default": policy}), ScannerDeps(None)), policy  # type: ignore[arg-type]


def test_a_registered_plugin_is_seen_and_then_gone() -> None:
    rule = ScannerRule(scanner="upper", action="flag", params={"strict": True})
    with registered(_Plugin()):
        engine, policy = _engine(rule)
        engine.validate()
        assert engine.scan("HEY", ScanContext("in"), policy).action == "flag"
        strategies.check({"markdown": "whole"}, "structure")
    assert "upper" not in SCANNERS
    with pytest.raises(ConfigError, match="unknown scanner 'upper'"):
        _engine(rule)[0].validate()


def test_a_name_registered_twice_is_refused() -> None:
    class Twice:
        @hookimpl
        def register_sources(self, register: Any) -> None:
            register("folder", lambda spec, cfg, skip: None)

    twice = pytest.raises(ValueError, match="source kind 'folder' is registered twice")
    with registered(Twice()), twice:
        dict(SOURCES)


def test_names_set_directly_shadow_the_plugins() -> None:
    reg: Registry[Any] = Registry("register_sources", "source kind")
    builtin = reg["folder"]
    reg["folder"] = "override"
    assert reg["folder"] == "override"
    del reg["folder"]
    assert reg["folder"] is builtin


def test_misspelled_scanner_param_names_its_key() -> None:
    engine = GuardEngine(GuardrailsConfig(), ScannerDeps(None))  # type: ignore[arg-type]
    engine.config.policies["default"].output[2].params["min_word"] = 5
    with pytest.raises(ConfigError) as info:
        engine.validate()
    assert str(info.value) == (
        "invalid config key 'guardrails.policies.default.output[2].params.min_word': "
        "Extra inputs are not permitted"
    )


def test_bad_param_value_names_its_key() -> None:
    rule = ScannerRule(scanner="pii", params={"types": ["EMAIL", "SHOE_SIZE"], "ner": "maybe"})
    with pytest.raises(ConfigError) as info:
        _engine(rule)[0].validate()
    lines = str(info.value).splitlines()
    assert lines[0].startswith(
        "invalid config key 'guardrails.policies.default.input[0].params.types': pii: unknown types"
    )
    assert lines[1].startswith(
        "invalid config key 'guardrails.policies.default.input[0].params.ner'"
    )


def test_unknown_chunking_strategy_names_its_key() -> None:
    cfg = IngestConfig(strategies={"pdf": "pages"}, default_strategy="structure")
    with pytest.raises(ConfigError) as info:
        strategies.check(cfg.strategies, cfg.default_strategy)
    assert str(info.value).startswith(
        "invalid config key 'ingest.strategies.pdf': unknown chunking strategy 'pages' (known: "
    )
    assert "semantic" in str(info.value)


def test_chunking_with_a_plugin_strategy() -> None:
    doc = ParsedDocument(blocks=[Block("paragraph", "all of it")], parser="text")
    with registered(_Plugin()):
        drafts = strategies.chunk_document(doc, "whole", 100, 0)
    assert [d.text for d in drafts] == ["all of it"]


def test_unknown_source_kind_names_the_source(tmp_path: Path) -> None:
    sync = SourceSync(SimpleNamespace(config=IngestConfig()), None, None)  # type: ignore[arg-type]
    spec = SourceSpec(name="wiki", kind="confluence", uri="https://wiki.example")
    with pytest.raises(ConfigError, match="source 'wiki': unknown kind 'confluence'"):
        sync.connector(spec)
    folder = sync.connector(SourceSpec(name="docs", kind="folder", uri=str(tmp_path)))
    assert folder.prefix() == str(tmp_path.resolve())
