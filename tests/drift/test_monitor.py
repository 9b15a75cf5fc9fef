"""The scheduled check through the real services: a shifted day emits one `drift.detected`
event that the audit subscriber records (tenant, signals, statistics and thresholds; no
question text), a tenant of the same distribution is checked and stays quiet, and
`drift.per_app` checks each app on its own too."""

from __future__ import annotations

import json
import time
from pathlib import Path

from lockgate.drift.monitor import DriftMonitor
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support import drift_traffic as dt

HOUR, DAY = 3600.0, 86400.0


def _traffic(services: Services, embedder: MiniLMEmbedder, now: float) -> None:
    q = embedder.for_queries()
    baseline, recent = (now - 8 * DAY, now - DAY), (now - DAY, now)
    for tenant, seed in (("acme", 1), ("globex", 11)):
        asked = dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_A, 60, seed=seed)
        dt.write_window(services.traces, q, tenant, asked, *baseline, seed=seed)
    cooking = dt.questions(dt.COOKING_SUBJECTS, dt.FORMS_B, 60, seed=2)
    dt.write_window(services.traces, q, "acme", cooking, *recent, seed=2, app="kitchen")
    same = dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_B, 60, seed=12)
    dt.write_window(services.traces, q, "globex", same, *recent, seed=12)


def test_a_shift_is_audited_once_and_a_steady_tenant_is_quiet(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    services = make_services(make_settings(tmp_path / "home"), embedder)
    now = time.time()
    _traffic(services, embedder, now)
    monitor = DriftMonitor.from_services(services)
    assert monitor.scopes(now) == [("acme", None), ("globex", None)]
    events = monitor.check(now)
    assert [(e.tenant, e.app) for e in events] == [("acme", None)]
    assert monitor.check(now + HOUR) == []  # within the cooldown (a day by default)

    entries = services.audit.entries(kinds=["drift.detected"])
    assert len(entries) == 1
    entry = entries[0]
    assert entry["tenant"] == "acme"
    data = entry["data"]
    assert "query_centroid" in data["signals"] and "query_mmd" in data["signals"]
    assert data["values"]["query_centroid"] >= data["thresholds"]["query_centroid"] == 0.2
    assert "cast iron" not in json.dumps(entry)  # statistics only, never the questions


def test_per_app_checks_each_app_too(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    settings = make_settings(tmp_path / "home", drift={"per_app": True})
    services = make_services(settings, embedder)
    now = time.time()
    _traffic(services, embedder, now)
    monitor = DriftMonitor.from_services(services)
    assert monitor.scopes(now) == [("acme", None), ("acme", "kitchen"), ("globex", None)]
    events = monitor.check(now)
    # The kitchen app has no baseline of its own: too little data to call drift there.
    assert [(e.tenant, e.app) for e in events] == [("acme", None)]
    kitchen = monitor.detector.report("acme", "kitchen", now=now)
    assert kitchen.signal("query_centroid").status == "insufficient_data"
