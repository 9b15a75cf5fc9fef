"""`lockgate loadtest` against a real gateway on loopback: the report in text and JSON, the
run stored for the readiness report with its multiple of the projected peak, bad input as
exit 2, an unreachable deployment as exit 1, and the scope it needs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from lockgate.auth import scopes as sc
from lockgate.auth.scopes import ScopeMatrix
from lockgate.cli import main
from lockgate.cli.authz import scope_of
from lockgate.cli.loadtest import loadtest
from lockgate.config import Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import free_port, serve


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder, fake_upstream) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ltcli") / "gw"
    settings = make_settings(home, fake_upstream, limits={"enabled": False})
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as url:
        yield url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The CLI's own store: 36 requests of one user inside one hour were seen, so the
    projected peak is 36 / 3600 = 0.01 requests/s."""
    home = tmp_path / "home"
    (tmp_path / "lockgate.yaml").write_text(yaml.safe_dump({"home": str(home)}))
    services = Services(Settings(home=home))
    for i in range(36):
        services.traces.record(
            {
                "id": uuid.uuid4().hex,
                "created_at": 1_800_000_000.0 + i * 60,
                "principal": "u1",
                "tenant": "default",
                "endpoint": "/v1/chat/completions",
                "stream": 1,
                "status": "ok",
                "degraded": 0,
                "cost": 0.001,
            }
        )
    return home


def run(tmp_path: Path, *args: str) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    config = str(tmp_path / "lockgate.yaml")
    return CliRunner().invoke(main, ["--config", config, *args], env=env, catch_exceptions=False)


def echo_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "echo.jsonl"
    path.write_text(json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
    return path


def test_a_run_is_reported_and_stored(base: str, home: Path, tmp_path: Path) -> None:
    scen = str(echo_scenario(tmp_path))
    res = run(
        tmp_path,
        "loadtest",
        "--url",
        base,
        "--rps",
        "20",
        "--duration",
        "1",
        "--scenario",
        scen,
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["requests"] == 20 and data["ok"] == 20 and data["errors"] == {}
    assert data["cost"] > 0 and data["ttft_ms"]["p50"] is not None
    assert data["projected_peak_rps"] == pytest.approx(0.01)
    assert data["projected_load_multiple"] == pytest.approx(data["rps_achieved"] / 0.01, rel=1e-3)
    latest = Services(Settings(home=home)).loadtests.latest()
    assert latest is not None
    assert latest.url == base and latest.rps_target == 20 and latest.duration == 1
    assert latest.rps_achieved == data["rps_achieved"] and latest.requests == 20
    assert latest.p50 == data["latency_ms"]["p50"] and latest.p99 == data["latency_ms"]["p99"]
    assert latest.ttft_p50 == data["ttft_ms"]["p50"] and latest.error_rate == 0
    assert latest.cost == pytest.approx(data["cost"])
    assert latest.projected_load_multiple == data["projected_load_multiple"]

    text = run(
        tmp_path,
        "loadtest",
        "--url",
        base,
        "--rps",
        "10",
        "--duration",
        "0.5",
        "--scenario",
        scen,
        "--no-store",
    )
    assert text.exit_code == 0, text.output
    assert "requests 5 at 10/s for 0.5 s" in text.output and "errors   0.00%" in text.output
    assert "x the projected peak of 0.0100 req/s" in text.output
    assert "generator:" in text.output and "% of a core" in text.output
    after = Services(Settings(home=home)).loadtests.latest()
    assert after is not None and after.id == latest.id  # --no-store kept nothing


def test_an_unreachable_deployment_is_exit_1(home: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    res = run(tmp_path, "loadtest", "--url", url, "--rps", "5", "--duration", "0.2")
    assert res.exit_code == 1 and "cannot reach the deployment" in res.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rps", "0", "--duration", "1"], "--rps"),
        (["--rps", "5", "--duration", "-1"], "--duration"),
        (["--rps", "lots", "--duration", "1"], "--rps"),
        (["--rps", "5", "--duration", "1", "--url", "ftp://x"], "--url"),
        (["--rps", "5", "--duration", "1", "--scenario", "missing.jsonl"], "cannot read"),
        (["--rps", "5", "--duration", "1", "--scenario", "BAD"], "not JSON"),
        (["--rps", "5", "--duration", "1", "--scenario", "EMPTY"], "needs 'messages'"),
        (["--rps", "100000", "--duration", "86400"], "1,000,000"),
    ],
)
def test_bad_input_is_exit_2(home: Path, tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "BAD").write_text("{not json\n")
    (tmp_path / "EMPTY").write_text('{"prompt": "x"}\n')
    args = [str(tmp_path / a) if a in ("BAD", "EMPTY", "missing.jsonl") else a for a in args]
    if "--url" not in args:
        args = ["--url", "http://127.0.0.1:9", *args]
    res = run(tmp_path, "loadtest", *args)
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output


def test_only_admins_may_run_it() -> None:
    assert scope_of(loadtest) == sc.LOADTEST
    m = ScopeMatrix()
    assert [
        r
        for r in ("admin", "developer", "reviewer", "analyst", "app")
        if m.allows((r,), sc.LOADTEST)
    ] == ["admin"]
