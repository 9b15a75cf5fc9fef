"""Session cookies: sealed (unreadable, unforgeable without the secret), expiring, and the
secret from the environment when configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.config import ConfigError, Settings
from lockgate.engine.turn import Principal
from lockgate.services import Services
from lockgate.ui.csrf import check_session, session_token
from lockgate.ui.session import Sealer, new_session, sealer

ALICE = Principal(id="alice", tenant="acme", roles=("analyst",), authenticated=True,
                  auth_method="api_key", key_id="key_1")


def test_a_sealed_session_opens_only_with_its_key() -> None:
    one, other = Sealer(os.urandom(32)), Sealer(os.urandom(32))
    session = new_session(ALICE, 60)
    cookie = one.seal(session)
    assert "alice" not in cookie and "analyst" not in cookie
    opened = one.open(cookie)
    assert opened is not None and opened.principal == ALICE and opened.sid == session.sid
    assert other.open(cookie) is None
    flipped = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert one.open(flipped) is None and one.open("not-a-cookie") is None


def test_an_expired_session_does_not_open() -> None:
    s = Sealer(os.urandom(32))
    session = new_session(ALICE, 60)
    assert s.open(s.seal(session), now=session.expires_at + 1) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    s = Sealer(os.urandom(32))
    a, b = new_session(ALICE, 60), new_session(ALICE, 60)
    assert check_session(s, a, {"csrf": session_token(s, a)})
    assert not check_session(s, a, {"csrf": session_token(s, b)})
    assert not check_session(s, a, {})


def test_the_secret_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOCKGATE_UI_SECRET", "x" * 40)
    one = Services(Settings(home=tmp_path / "a"))
    two = Services(Settings(home=tmp_path / "b"))
    cookie = sealer(one).seal(new_session(ALICE, 60))
    assert sealer(two).open(cookie) is not None  # two workers, one secret
    monkeypatch.setenv("LOCKGATE_UI_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        sealer(Services(Settings(home=tmp_path / "c")))
