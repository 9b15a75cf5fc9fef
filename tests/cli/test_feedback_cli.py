"""`lockgate feedback report` against a real store: groups, mean rating, share negative and
the target from config, in text and `--json`; a key reads its own tenant only, and a role
without the `feedback` scope is refused."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgate.cli import main
from lockgate.config import Settings
from lockgate.services import Services
from lockgate.store.feedback import FeedbackRecord, new_feedback_id


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    full: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    full["LOCKGATE_HOME"] = str(home)
    full.update(env or {})
    return CliRunner().invoke(main, list(args), env=full, catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    services = Services(Settings(home=home))
    now = time.time()
    for tenant, rating, version, model, age in (
        ("acme", 5, 2, "m1", 0),
        ("acme", 4, 2, "m1", 0),
        ("acme", 1, 1, "m2", 0),
        ("acme", 5, 1, "m2", 0),
        ("acme", 1, 3, "m2", 30 * 86400),  # outside the default 7d
        ("globex", 2, 2, "m1", 0),
    ):
        services.feedback.add(
            FeedbackRecord(
                id=new_feedback_id(),
                tenant=tenant,
                principal="carol",
                trace_id="tr-1",
                rating=rating,
                prompt_version=version,
                model=model,
                app="web",
                created_at=now - age,
            )
        )
    keys = {
        who: services.api_keys.create(who, "acme", [role])[1]
        for who, role in (("dev", "developer"), ("analyst", "analyst"))
    }
    (home / "keys.json").write_text(json.dumps(keys))
    services.engine.dispose()
    return home


def test_report_by_prompt_version(home: Path) -> None:
    out = run(home, "feedback", "report", "--tenant", "acme", "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["by"] == "prompt_version" and report["target_rating"] == 4.2
    groups = {g["key"]: g for g in report["groups"]}
    assert set(groups) == {"1", "2"}
    assert groups["2"] == {
        "key": "2", "count": 2, "mean_rating": 4.5, "negative_share": 0.0, "meets_target": True
    }
    assert groups["1"]["negative_share"] == 0.5 and groups["1"]["meets_target"] is False
    plain = run(home, "feedback", "report", "--tenant", "acme", "--by", "model")
    assert "m1" in plain.output and "MISSED" in plain.output and "met" in plain.output
    # The operator without --tenant reads every tenant; a longer window reaches the old row.
    everyone = json.loads(run(home, "feedback", "report", "--since", "60d", "--json").stdout)
    assert sum(g["count"] for g in everyone["groups"]) == 6


def test_target_from_config_and_bad_since(home: Path) -> None:
    env = {"LOCKGATE_FEEDBACK__TARGET_RATING": "2.5"}
    out = run(home, "feedback", "report", "--tenant", "acme", "--by", "app", "--json", env=env)
    [group] = json.loads(out.stdout)["groups"]
    assert group["count"] == 4 and group["mean_rating"] == 3.75 and group["meets_target"]
    assert run(home, "feedback", "report", "--since", "soon").exit_code == 2


def test_a_key_reads_its_own_tenant_only(home: Path) -> None:
    keys = json.loads((home / "keys.json").read_text())
    mine = run(home, "--api-key", keys["dev"], "feedback", "report", "--json")
    assert mine.exit_code == 0, mine.output
    assert json.loads(mine.stdout)["tenant"] == "acme"
    assert sum(g["count"] for g in json.loads(mine.stdout)["groups"]) == 4
    other = run(home, "--api-key", keys["dev"], "feedback", "report", "--tenant", "globex")
    assert other.exit_code == 3
    refused = run(home, "--api-key", keys["analyst"], "feedback", "report")
    assert refused.exit_code == 3
