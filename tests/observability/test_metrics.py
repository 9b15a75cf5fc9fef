"""The metrics facade over prometheus-client: the families of the catalog, label bounds, the
text exposition as Prometheus parses it, and multi-process mode (two writer processes, one
directory, one scrape)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lockgate.observability.catalog import CATALOG, FORBIDDEN_LABELS
from lockgate.observability.metrics import MAX_LABEL_VALUES, MULTIPROC_ENV, OTHER, Metrics

ROOT = Path(__file__).resolve().parents[2]


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_catalog_family_is_listed_before_its_first_sample() -> None:
    parsed = families(Metrics().render())
    for family in CATALOG.values():
        # The parser names a counter without its `_total` suffix.
        name = family.name.removesuffix("_total") if family.kind == "counter" else family.name
        assert name in parsed, family.name
        assert parsed[name].type == family.kind  # type: ignore[attr-defined]


def test_no_catalog_family_has_a_high_cardinality_label() -> None:
    for family in CATALOG.values():
        assert not FORBIDDEN_LABELS & set(family.labels), family.name


def test_counts_gauges_and_histograms_round_trip_through_the_parser() -> None:
    m = Metrics()
    m.inc("lockgate_requests_total", endpoint="/v1/chat/completions", app="a", model="echo",
          status="ok", code="200")
    m.inc("lockgate_requests_total", 2, endpoint="/v1/chat/completions", app="a", model="echo",
          status="ok", code="200")
    m.set("lockgate_breaker_state", 2, deployment="m/a")
    m.observe("lockgate_request_duration_seconds", 0.3, endpoint="/v1/chat/completions",
              app="a", model="echo")
    assert m.counter("lockgate_requests_total", endpoint="/v1/chat/completions", app="a",
                     model="echo", status="ok", code="200") == 3
    assert m.gauge("lockgate_breaker_state", deployment="m/a") == 2
    assert m.gauge("lockgate_breaker_state", deployment="m/other") is None
    parsed = families(m.render())
    (sample,) = parsed["lockgate_requests"].samples  # type: ignore[attr-defined]
    assert sample.value == 3 and sample.labels == {
        "endpoint": "/v1/chat/completions", "app": "a", "model": "echo", "status": "ok",
        "code": "200",
    }
    hist = {s.name: s for s in parsed["lockgate_request_duration_seconds"].samples  # type: ignore[attr-defined]
            if s.labels.get("le") in (None, "0.25", "0.5")}
    assert hist["lockgate_request_duration_seconds_count"].value == 1
    buckets = [s for s in parsed["lockgate_request_duration_seconds"].samples  # type: ignore[attr-defined]
               if s.name.endswith("_bucket")]
    by_le = {s.labels["le"]: s.value for s in buckets}
    assert by_le["0.25"] == 0 and by_le["0.5"] == 1
    # No `_created` series: they double the output and nothing reads them.
    assert "_created" not in m.render()


def test_a_label_with_too_many_values_folds_into_other() -> None:
    m = Metrics()
    for i in range(MAX_LABEL_VALUES + 5):
        m.inc("lockgate_route_decisions_total", model=f"m{i}", tier="small")
    assert m.counter("lockgate_route_decisions_total", model=OTHER, tier="small") == 5
    assert m.counter("lockgate_route_decisions_total", model="m0", tier="small") == 1


def test_an_undeclared_metric_takes_its_labels_from_its_first_use() -> None:
    m = Metrics()
    m.inc("plugin_things_total", color="red")
    m.inc("plugin_things_total", color="red", size="big")  # an extra label is dropped
    assert m.counter("plugin_things_total", color="red") == 2
    with pytest.raises(ValueError, match="high-cardinality"):
        m.inc("plugin_users_total", user_id="u1")
    with pytest.raises(TypeError):
        m.set("lockgate_requests_total", 1)


WRITER = """
import os, sys
from pathlib import Path
from lockgate.observability import metrics
if len(sys.argv) > 2:
    # Switched from the setting, after prometheus-client was imported single-process.
    metrics.use_multiprocess(Path(sys.argv[2]))
m = metrics.METRICS
n = int(sys.argv[1])
m.inc("lockgate_requests_total", n, endpoint="/v1/chat/completions", app="a", model="echo",
      status="ok", code="200")
m.set("lockgate_breaker_state", n, deployment="m/a")
m.set("lockgate_upstream_queue_depth", n, model="echo")
m.observe("lockgate_request_duration_seconds", n / 10, endpoint="/v1/chat/completions",
          app="a", model="echo")
print(os.getpid())
"""

SCRAPER = "from lockgate.observability.metrics import METRICS; print(METRICS.render())"


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_processes_write_one_directory_and_a_scrape_sums_them(tmp_path: Path) -> None:
    shared = tmp_path / "prom"
    base = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), base.get("PYTHONPATH", "")])
    shared.mkdir()
    # One worker inherits the variable (as workers of a server do), the other switches to
    # the directory from configuration after start-up.
    _python(WRITER, "3", env={**base, MULTIPROC_ENV: str(shared)})
    _python(WRITER, "4", str(shared), env=base)
    assert len(list(shared.glob("*.db"))) >= 2
    parsed = families(_python(SCRAPER, env={**base, MULTIPROC_ENV: str(shared)}))
    (requests,) = parsed["lockgate_requests"].samples  # type: ignore[attr-defined]
    assert requests.value == 7
    # Breaker state: the worst over the processes; a queue depth: their sum (of the live ones;
    # both writers have exited, so `livesum` leaves their queues out).
    (breaker,) = parsed["lockgate_breaker_state"].samples  # type: ignore[attr-defined]
    assert breaker.value == 4 and "pid" not in breaker.labels
    count = [s for s in parsed["lockgate_request_duration_seconds"].samples  # type: ignore[attr-defined]
             if s.name.endswith("_count")]
    assert [s.value for s in count] == [2]


def test_without_the_variable_a_process_reports_only_itself(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), base.get("PYTHONPATH", "")])
    text = _python(SCRAPER, env=base)
    assert families(text)["lockgate_requests"].samples == []  # type: ignore[attr-defined]
    assert "process_cpu_seconds_total" in text  # single-process mode reports the process
