"""The role -> scope matrix: the defaults, config overrides and how a bad override fails (at
start-up, naming the key, never at the first request)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lockgate.auth import scopes as sc
from lockgate.auth.roles import ROLES
from lockgate.auth.scopes import DEFAULT_ROLE_SCOPES, SCOPES, ScopeMatrix, matrix_of
from lockgate.config import AuthConfig, ConfigError, Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.test_cli import invoke

APP = {
    sc.REVIEW_STATUS,
    sc.CHAT,
    sc.EMBEDDINGS,
    sc.SEARCH,
    sc.MODELS_READ,
    sc.FILES,
    sc.BATCHES,
    sc.GUARD_CHECK,
    sc.TOOLS,
    sc.SCHEMA_READ,
    sc.FEEDBACK,
}


def test_every_role_has_a_row_and_admin_holds_every_scope() -> None:
    assert set(DEFAULT_ROLE_SCOPES) == set(ROLES)
    matrix = ScopeMatrix()
    assert matrix.granted(("admin",)) == frozenset(SCOPES)
    for role, listed in DEFAULT_ROLE_SCOPES.items():
        assert set(listed) <= set(SCOPES), role


def test_the_default_matrix() -> None:
    m = ScopeMatrix()
    assert m.granted(("app",)) == APP
    assert m.granted(("developer",)) == APP | {
        sc.TRACES_READ,
        sc.PROMPTS_WRITE,
        sc.PROMPTS_READ,
        sc.PROMPTS_PIN,
        sc.METRICS_READ,
        sc.EVAL_RUN,
        sc.EVAL_READ,
        sc.RELEASES_READ,
    }
    assert m.granted(("reviewer",)) == {
        sc.REVIEW,
        sc.REVIEW_STATUS,
        sc.TRACES_READ,
        sc.SCHEMA_READ,
    }
    assert m.granted(("analyst",)) == {
        sc.TRACES_READ,
        sc.METRICS_READ,
        sc.COSTS,
        sc.SCHEMA_READ,
        sc.EVAL_READ,
        sc.PROMPTS_READ,
        sc.RELEASES_READ,
    }
    # Running an evaluation spends model time: developers (and admins) only.
    assert [r for r in ROLES if m.allows((r,), sc.EVAL_RUN)] == ["admin", "developer"]
    # A load test spends model time at scale and writes a stored result: admins only.
    assert [r for r in ROLES if m.allows((r,), sc.LOADTEST)] == ["admin"]
    # Naming one's own prompt on a request is for people who write prompts, not for apps.
    assert [r for r in ROLES if m.allows((r,), sc.PROMPTS_PIN)] == ["admin", "developer"]
    # The routes being added elsewhere have their scope in the matrix already.
    assert m.allows(("reviewer",), sc.REVIEW) and not m.allows(("app",), sc.REVIEW)
    assert m.allows(("app",), sc.TOOLS)


def test_roles_add_up_and_nothing_is_granted_by_no_role() -> None:
    m = ScopeMatrix()
    assert m.granted(("reviewer", "analyst")) == m.granted(("reviewer",)) | m.granted(
        ("analyst",)
    )
    assert m.granted(()) == frozenset()
    assert m.granted(("no-such-role",)) == frozenset()
    assert not m.allows((), sc.CHAT)
    assert m.allows((), sc.PUBLIC)  # the health probes need nothing
    for scope in SCOPES:
        if scope not in (
            sc.KEYS_ADMIN, sc.AUDIT_READ, sc.PRIVACY_ADMIN, sc.CONFIG_READ, sc.RELEASES_ADMIN
        ):
            continue
        assert [r for r in ROLES if m.allows((r,), scope)] == ["admin"], scope


def test_an_override_replaces_one_role() -> None:
    m = ScopeMatrix({"analyst": [sc.TRACES_READ, sc.COSTS, sc.COSTS]})
    assert m.granted(("analyst",)) == {sc.TRACES_READ, sc.COSTS}
    assert m.granted(("app",)) == APP  # the others keep their defaults
    nothing = ScopeMatrix({"app": []})
    assert nothing.granted(("app",)) == frozenset()


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"role_scopes": {"analyst": ["costs", "teleport"]}}, "unknown scope 'teleport'"),
        ({"role_scopes": {"wizard": ["chat"]}}, "unknown role 'wizard'"),
        ({"role_scopes": {"admin": ["chat"]}}, "admin role always holds every scope"),
        ({"anonymous_roles": ["admin"]}, "cannot have the admin role"),
        ({"anonymous_roles": ["app", "root"]}, "unknown role 'root'"),
    ],
)
def test_a_bad_override_fails_naming_the_key(tmp_path: Path, auth: dict, message: str) -> None:
    cfg = AuthConfig(**auth)
    with pytest.raises(ConfigError, match=message) as caught:
        matrix_of(cfg)
    assert "auth." in str(caught.value)
    # The gateway refuses to start with it ...
    services = Services(Settings(home=tmp_path / "home", auth=auth))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        create_app(services, preload_models=False)
    # ... and so does every CLI command that checks a scope: exit 2 with the message.
    config = tmp_path / "lockgate.yaml"
    config.write_text(yaml.safe_dump({"auth": auth}), encoding="utf-8")
    _, key = Services(Settings(home=tmp_path / "home")).api_keys.create("x", "t", ["admin"])
    for with_key in ([], ["--api-key", key]):
        args = ["--config", str(config), *with_key, "traces", "list"]
        result = invoke(args, tmp_path / "home", tmp_path)
        assert result.exit_code == 2 and message in result.output, result.output


def test_anonymous_roles_default_to_app_and_may_be_none() -> None:
    assert matrix_of(AuthConfig()).anonymous_roles == ("app",)
    assert matrix_of(AuthConfig(anonymous_roles=[])).anonymous_roles == ()
    assert matrix_of(AuthConfig(anonymous_roles=["analyst", "analyst"])).anonymous_roles == (
        "analyst",
    )


def test_the_granted_memo_is_bounded() -> None:
    m = ScopeMatrix()
    for i in range(5000):
        m.granted(("app", f"r{i}"))
    assert len(m._granted) <= 4096


def test_the_engine_spells_the_pin_scope_as_the_matrix_does() -> None:
    from lockgate.engine.pins import PIN_SCOPE

    assert PIN_SCOPE == sc.PROMPTS_PIN
