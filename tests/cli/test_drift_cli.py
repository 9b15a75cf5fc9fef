"""`lockgate drift report` against a real store and the real query embedder: a tenant whose
recent day asks about cooking instead of the sample corpus shows drift in the table and in
`--json`, `--fail-on-drift` turns it into exit 1, a thin tenant is "insufficient data", a key
reads its own tenant only, a role without `metrics:read` is refused, and a bad duration is a
usage error."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgate.cli import main
from lockgate.config import Settings
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.support import drift_traffic as dt

HOUR, DAY = 3600.0, 86400.0


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    full: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    full["LOCKGATE_HOME"] = str(home)
    full.update(env or {})
    return CliRunner().invoke(main, list(args), env=full, catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Path:
    home = tmp_path_factory.mktemp("drift-cli") / "home"
    services = Services(Settings(home=home), preloaded_embedder=embedder)
    now, q = time.time(), embedder.for_queries()
    baseline = (now - 7 * DAY, now - DAY - HOUR)
    recent = (now - 23 * HOUR, now - 60.0)
    base_qs = dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_A, 60, seed=1)
    dt.write_window(services.traces, q, "acme", base_qs, *baseline, seed=1)
    cooking = dt.questions(dt.COOKING_SUBJECTS, dt.FORMS_B, 60, seed=2)
    dt.write_window(services.traces, q, "acme", cooking, *recent, seed=2)
    few = dt.questions(dt.CORPUS_SUBJECTS, dt.FORMS_B, 5, seed=3)
    dt.write_window(services.traces, q, "globex", few, *recent, seed=3)
    keys = {
        who: services.api_keys.create(who, "acme", [role])[1]
        for who, role in (("analyst", "analyst"), ("app", "app"))
    }
    (home / "keys.json").write_text(json.dumps(keys))
    services.engine.dispose()
    return home


def test_report_shows_the_shift_and_fail_on_drift_exits_1(home: Path) -> None:
    out = run(home, "drift", "report", "--tenant", "acme", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["drift"] is True
    [report] = data["reports"]
    assert report["tenant"] == "acme" and report["recent"]["end"] - report["recent"]["start"] == DAY
    signals = {s["signal"]: s for s in report["signals"]}
    assert signals["query_centroid"]["status"] == "drift"
    assert signals["query_centroid"]["n_baseline"] == signals["query_centroid"]["n_recent"] == 60
    assert signals["refusal_rate"]["recent"] == 1.0 and signals["refusal_rate"]["status"] == "drift"
    assert signals["feedback_mean"]["status"] == "insufficient_data"

    table = run(home, "drift", "report", "--tenant", "acme", "--fail-on-drift")
    assert table.exit_code == 1
    line = next(x for x in table.stdout.splitlines() if "query_centroid" in x)
    assert "DRIFT" in line and "60/60" in line
    assert "insufficient data" in table.stdout
    # Two halves of the cooking day against each other: no drift, so exit 0.
    halves = ("--recent", "11h", "--baseline", "11h", "--fail-on-drift", "--json")
    env = {"LOCKGATE_DRIFT__MIN_SAMPLES": "10"}
    same = run(home, "drift", "report", "--tenant", "acme", *halves, env=env)
    assert same.exit_code == 0, same.output
    [report] = json.loads(same.stdout)["reports"]
    assert {s["status"] for s in report["signals"]} <= {"ok", "insufficient_data"}
    assert report["signals"][0]["status"] == "ok"


def test_operator_reads_every_tenant_and_a_thin_one_is_insufficient(home: Path) -> None:
    data = json.loads(run(home, "drift", "report", "--json").stdout)
    by_tenant = {r["tenant"]: r for r in data["reports"]}
    assert set(by_tenant) == {"acme", "globex"}
    assert {s["status"] for s in by_tenant["globex"]["signals"]} == {"insufficient_data"}


def test_keys_read_their_own_tenant_with_metrics_read(home: Path) -> None:
    keys = json.loads((home / "keys.json").read_text())
    mine = run(home, "--api-key", keys["analyst"], "drift", "report", "--json")
    assert mine.exit_code == 0, mine.output
    assert [r["tenant"] for r in json.loads(mine.stdout)["reports"]] == ["acme"]
    other = run(home, "--api-key", keys["analyst"], "drift", "report", "--tenant", "globex")
    assert other.exit_code == 3 and "cannot read 'globex'" in other.stderr
    refused = run(home, "--api-key", keys["app"], "drift", "report")
    assert refused.exit_code == 3 and "metrics:read" in refused.stderr


def test_a_bad_duration_is_a_usage_error(home: Path) -> None:
    out = run(home, "drift", "report", "--recent", "soon")
    assert out.exit_code == 2 and "--recent" in out.output and "Traceback" not in out.output
