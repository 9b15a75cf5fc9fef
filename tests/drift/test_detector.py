"""The drift check end to end with the real MiniLM query embedder, on SQLite and PostgreSQL:
a baseline week of questions about the sample corpus, then a recent day that (a) asks about
the same things in other words — no event — or (b) asks about cooking, so that most turns
are refused for want of sources — one `DriftDetected` event with the query-embedding signals
breached, announced once per cooldown. Thin windows are "insufficient data", never drift."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lockgate.config import DriftConfig
from lockgate.crypto.envelope import Keyring
from lockgate.crypto.kms import LocalMasterKey
from lockgate.drift.detector import SIGNALS, DriftDetector
from lockgate.drift.monitor import DriftMonitor
from lockgate.drift.windows import WindowLoader
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.observability.events import DriftDetected, Event
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine
from lockgate.store.feedback import FeedbackStore
from lockgate.store.migrations import migrate
from lockgate.store.traces import TraceStore
from tests.support import drift_traffic as dt
from tests.support.postgres import throwaway_database

HOUR, DAY = 3600.0, 86400.0
NOW = 1_800_000_000.0
RECENT = (NOW - DAY, NOW)
BASELINE = (NOW - 8 * DAY, NOW - DAY)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'drift.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("drift") as engine:
        migrate(engine)
        yield engine


class Rig:
    """A store with sealed traces, the monitor over it, and the events it emitted."""

    def __init__(self, engine: Engine, embedder: MiniLMEmbedder, **config: object) -> None:
        cipher = Keyring(LocalMasterKey(secrets.token_bytes(32)), SqlDataKeyStore(engine))
        self.traces = TraceStore(engine, cipher)
        self.feedback = FeedbackStore(engine, cipher)
        self.embedder = embedder.for_queries()
        self.config = DriftConfig(**config)  # type: ignore[arg-type]
        loader = WindowLoader(engine, cipher, dt.MIN_RELEVANCE, self.config.sample_size)
        self.detector = DriftDetector(loader, self.embedder.embed, self.config, clock=lambda: NOW)
        self.emitted: list[Event] = []
        self.monitor = DriftMonitor(self.detector, self.config, self.emitted.extend)

    def window(self, asked: list[str], span: tuple[float, float], seed: int) -> None:
        dt.write_window(self.traces, self.embedder, "acme", asked, *span, seed=seed)

    def baseline(self) -> None:
        self.window(dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_A, 60, seed=1), BASELINE, 1)
        dt.write_feedback(self.feedback, "acme", [5, 4, 5, 4, 4] * 8, *BASELINE)


def test_same_distribution_raises_no_event(db: Engine, embedder: MiniLMEmbedder) -> None:
    rig = Rig(db, embedder)
    rig.baseline()
    rig.window(dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_B, 60, seed=2), RECENT, 2)
    dt.write_feedback(rig.feedback, "acme", [4, 5, 4, 5, 4] * 8, *RECENT)

    report = rig.detector.report("acme")
    by_name = {s.name: s for s in report.signals}
    assert tuple(by_name) == SIGNALS
    for signal in report.signals:
        assert signal.status == "ok", signal
        assert signal.n_recent >= 30 and signal.n_baseline >= 30
    assert by_name["query_centroid"].n_recent == 60  # every question, decrypted and embedded
    assert 0 < by_name["query_centroid"].statistic < 0.2  # type: ignore[operator]
    assert report.event() is None
    assert rig.monitor.check() == []
    assert rig.emitted == []


def test_shifted_stream_raises_one_drift_event(db: Engine, embedder: MiniLMEmbedder) -> None:
    rig = Rig(db, embedder, cooldown_seconds=6 * HOUR)
    rig.baseline()
    cooking = dt.questions(dt.COOKING_SUBJECTS, dt.FORMS_B, 50, seed=3)
    rig.window(cooking + dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_B, 10, seed=4), RECENT, 3)
    dt.write_feedback(rig.feedback, "acme", [2, 1, 3, 2, 1] * 8, *RECENT)

    events = rig.monitor.check()
    assert len(events) == 1 and rig.emitted == events
    event = events[0]
    assert isinstance(event, DriftDetected) and type(event).audit
    assert event.tenant == "acme" and event.app is None
    breached = set(event.signals)
    assert {"query_centroid", "query_mmd"} <= breached
    assert {"refusal_rate", "no_relevant_document_rate", "retrieval_score_psi"} <= breached
    assert "feedback_mean" in breached
    for name in event.signals:
        assert event.values[name] >= event.thresholds[name]
    assert event.recent == {"start": RECENT[0], "end": RECENT[1]}
    assert event.baseline == {"start": BASELINE[0], "end": BASELINE[1]}

    report = rig.detector.report("acme")
    assert report.signal("refusal_rate").recent == pytest.approx(50 / 60, abs=0.1)
    assert report.signal("query_centroid").statistic > 0.4  # type: ignore[operator]

    # The same breach an hour later is not announced again; past the cooldown it is.
    assert rig.monitor.check(NOW + HOUR) == []
    assert len(rig.emitted) == 1
    assert len(rig.monitor.check(NOW + 7 * HOUR)) == 1
    assert len(rig.emitted) == 2


def test_thin_windows_are_insufficient_data_not_drift(db: Engine, embedder: MiniLMEmbedder) -> None:
    rig = Rig(db, embedder, min_samples=30)
    rig.baseline()
    rig.window(dt.questions(dt.COOKING_SUBJECTS, dt.FORMS_B, 10, seed=5), RECENT, 5)
    report = rig.detector.report("acme")
    assert {s.status for s in report.signals} == {"insufficient_data"}
    assert report.signal("query_mmd").n_recent == 10
    assert report.signal("feedback_mean").n_recent == 0
    assert report.breached == [] and rig.monitor.check() == []


def test_sample_size_caps_the_questions_embedded(db: Engine, embedder: MiniLMEmbedder) -> None:
    rig = Rig(db, embedder, sample_size=40)
    rig.baseline()
    rig.window(dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_B, 60, seed=2), RECENT, 2)
    report = rig.detector.report("acme")
    assert report.signal("query_centroid").n_recent == 40
    assert report.signal("refusal_rate").n_recent == 60  # rates use every turn
    again = rig.detector.report("acme")  # the sample is seeded by the window: same numbers
    assert again.signal("query_mmd").statistic == report.signal("query_mmd").statistic
