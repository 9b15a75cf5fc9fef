"""`lockgate keys` on the host (the bootstrap: no default password anywhere) and
`lockgate ask` sending a key from `--api-key` or LOCKGATE_API_KEY to a gateway that needs one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.auth.keys import AuthFailure
from lockgate.config import load_settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve
from tests.test_cli import invoke


def _services(home: Path) -> Services:
    return Services(load_settings(None).model_copy(update={"home": home}))


def test_keys_create_list_rotate_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = invoke(
        [
            "keys",
            "create",
            "--name",
            "root",
            "--tenant",
            "acme",
            "--role",
            "admin",
            "--groups",
            "ops,sec",
            "--expires",
            "90d",
            "--json",
        ],
        home,
        tmp_path,
    )
    assert made.exit_code == 0, made.output
    out = json.loads(made.stdout)
    assert set(out) == {"id", "key", "prefix"} and out["key"].startswith(out["prefix"] + "_")
    principal = _services(home).api_keys.verify(out["key"])
    assert (principal.id, principal.tenant, principal.roles, principal.groups) == (
        "root",
        "acme",
        ("admin",),
        ("ops", "sec"),
    )

    plain = invoke(
        ["keys", "create", "--name", "bot", "--tenant", "acme", "--role", "app"], home, tmp_path
    )
    assert _services(home).api_keys.verify(plain.stdout.strip()).apps == ()
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("lg_")
    assert "not shown again" in plain.stderr

    listed = invoke(["keys", "list", "--json"], home, tmp_path)
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["root", "bot"]
    secret = out["key"].split("_", 2)[2]
    text = invoke(["keys", "list"], home, tmp_path).stdout
    for shown in (listed.stdout, text):
        assert secret not in shown and "secret_hash" not in shown
    assert out["prefix"] in text and "2 keys" in text

    rotated = invoke(["keys", "rotate", out["id"], "--json"], home, tmp_path)
    assert rotated.exit_code == 0
    new = json.loads(rotated.stdout)
    assert new["id"] == out["id"] and new["key"] != out["key"]
    with pytest.raises(AuthFailure):
        _services(home).api_keys.verify(out["key"])
    assert _services(home).api_keys.verify(new["key"]).id == "root"

    revoked = invoke(["keys", "revoke", out["id"]], home, tmp_path)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    with pytest.raises(AuthFailure, match="revoked"):
        _services(home).api_keys.verify(new["key"])


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["create", "--name", "x", "--tenant", "t", "--role", "boss"], 2, "--role: unknown role"),
        (
            ["create", "--name", "x", "--tenant", "t", "--role", "app", "--expires", "soon"],
            2,
            "--expires: invalid duration",
        ),
        (["create", "--name", "a b", "--tenant", "t", "--role", "app"], 2, "--name:"),
        (["create", "--name", "x", "--tenant", "t"], 2, "--role"),
        (["revoke", "key_nope"], 1, "no API key with id 'key_nope'"),
        (["rotate", "key_nope"], 1, "no API key with id 'key_nope'"),
    ],
)
def test_keys_bad_input_is_a_message_and_an_exit_status(
    tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    result = invoke(["keys", *args], tmp_path / "home", tmp_path)
    assert result.exit_code == status
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_ask_sends_the_key(tmp_path: Path, embedder, fake_upstream) -> None:
    settings = make_settings(tmp_path / "home", fake_upstream, auth={}, grounded={"model": "echo"})
    services = make_services(settings, embedder)
    _, key = services.api_keys.create("asker", "default", ["developer"])
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        refused = invoke(["ask", "hello?", "--url", base], tmp_path / "other", tmp_path)
        assert refused.exit_code == 1 and "401" in refused.stderr
        for args, env in (
            (["--api-key", key], {}),
            ([], {"LOCKGATE_API_KEY": key}),
        ):
            answered = invoke(
                ["ask", "hello?", "--url", base, "--json", *args],
                tmp_path / "other",
                tmp_path,
                env=env,
            )
            assert answered.exit_code == 0, answered.output
            trace_id = json.loads(answered.stdout)["lockgate"]["trace_id"]
            assert services.traces.get(trace_id)["principal"] == "asker"


def test_keys_create_binds_apps(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["keys", "create", "--name", "batch", "--tenant", "acme", "--role", "app"]
    made = invoke([*args, "--app", "internal-batch", "--app", "support", "--json"], home, tmp_path)
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)["key"]
    assert _services(home).api_keys.verify(key).apps == ("internal-batch", "support")
    rows = json.loads(invoke(["keys", "list", "--json"], home, tmp_path).stdout)
    assert rows[0]["app"] == "internal-batch" and rows[0]["apps"] == ["internal-batch", "support"]
    assert "apps=internal-batch,support" in invoke(["keys", "list"], home, tmp_path).stdout
    bad = invoke([*args, "--app", "a b"], home, tmp_path)
    assert bad.exit_code == 2 and "--app:" in bad.stderr
