"""Shared fixtures. Heavy models (MiniLM, Gemma) load once per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.config import BreakerConfig, ModelSpec, ResilienceConfig, Settings
from lockgate.models.llama_local import LlamaCppModel
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.support import store
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve

# boto3's credential chain asks the cloud metadata address when no key is set: tests never
# leave the machine, and a test of the S3 source gives its credentials explicitly.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "corpus"


def pytest_report_header() -> str:
    return f"lockgate store: {store.BACKEND} (LOCKGATE_TEST_STORE)"


@pytest.fixture(scope="session", autouse=True)
def _store_backend() -> Iterator[None]:
    # Every home's store on the backend LOCKGATE_TEST_STORE names (tests/support/store.py).
    yield from store.session()


@pytest.fixture(scope="module", autouse=True)
def _store_per_module() -> Iterator[None]:
    yield from store.per_module()


@pytest.fixture(autouse=True)
def _store_per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from store.per_test(request)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.embed(["warm up"])
    return model


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The GGUF is assembled once per session, not once per test home.
    return tmp_path_factory.mktemp("models-home")


@pytest.fixture(scope="session")
def gemma(models_home: Path) -> LlamaCppModel:
    spec = Settings(home=models_home).models["gemma-3-270m"]
    model = LlamaCppModel("gemma-3-270m", spec, models_home)
    model.load()
    return model


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[str]:
    app = create_fake_upstream()
    with serve(app) as base:
        yield base + "/v1"


# The fake models test the pass-through contract (one call, each failure mapped to its status),
# so retries and breakers stay out of their way; tests/routing and test_resilience.py cover those.
PASSTHROUGH_RESILIENCE = ResilienceConfig(retries=0, breaker=BreakerConfig(enabled=False))


def make_settings(home: Path, upstream: str | None = None, **overrides: object) -> Settings:
    models = dict(Settings(home=home).models)
    if upstream:
        for name in ("echo", "fail-500", "fail-429", "slow", "cut-stream"):
            models[name] = ModelSpec(
                backend="openai",
                base_url=upstream,
                # Only `slow` is meant to hit the deadline; the rest get room for a loaded CI box.
                read_timeout_s=1.0 if name == "slow" else 10.0,
                price_input_per_1k=0.5,
                price_output_per_1k=1.5,
                context_window=8192,
                resilience=PASSTHROUGH_RESILIENCE,
            )
        models["down"] = ModelSpec(
            backend="openai", base_url="http://127.0.0.1:9/v1", resilience=PASSTHROUGH_RESILIENCE
        )
    # Gateway mechanics are tested without guardrails, cache and routing in the way; the
    # tests of those features switch them on explicitly.
    overrides.setdefault("guardrails", {"enabled": False})
    overrides.setdefault("cache", {"enabled": False})
    # The gateway tests that predate keys call it as the anonymous demo does (the anonymous
    # principal has the `app` role, and /metrics, which needs `metrics:read`, is public); the
    # tests of authentication and authorisation build their settings with `auth` of their own.
    overrides.setdefault("auth", {"allow_anonymous": True, "public_metrics": True})
    # ... and drive the model: the built-in Gemma would otherwise quote the sources first
    # (`answer_mode: auto`), which tests/engine/test_answer_check.py and the SDK tests cover.
    overrides.setdefault("grounded", {"answer_mode": "generate"})
    return Settings(home=home, models=models, **overrides)  # type: ignore[arg-type]


def make_services(
    settings: Settings, embedder: MiniLMEmbedder, gemma: LlamaCppModel | None = None
) -> Services:
    # Reuse the session's loaded models instead of loading them again per test.
    services = Services(settings, preloaded_embedder=embedder)
    if gemma is not None:
        services.models.preload("gemma-3-270m", gemma)
    return services


@pytest.fixture
def services(tmp_path: Path, embedder: MiniLMEmbedder, fake_upstream: str) -> Services:
    return make_services(make_settings(tmp_path / "home", fake_upstream), embedder)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(SAMPLES, target)
    return target
