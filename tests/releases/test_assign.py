"""Who the rollout release serves: a sticky, hashed share of callers and the pilot list."""

from __future__ import annotations

from lockgate.releases.assign import Caller, bucket, caller, serves
from lockgate.releases.model import Release


def _rollout(percent: float | None = None, pilot: tuple[str, ...] = ()) -> Release:
    stage = "percentage" if percent is not None else "pilot"
    return Release("r2", stage=stage, percent=percent, pilot=pilot)


def test_the_same_caller_always_lands_on_the_same_side() -> None:
    r = _rollout(percent=50)
    for i in range(200):
        who = Caller(f"user-{i}")
        first = serves(r, who)
        assert all(serves(r, Caller(f"user-{i}")) == first for _ in range(5))
    assert bucket("r2", "alice") == bucket("r2", "alice")
    # Independent between releases: the same callers are not always first.
    ids = [f"u{i}" for i in range(500)]
    assert [bucket("r2", u) < 1000 for u in ids] != [bucket("r3", u) < 1000 for u in ids]


def test_the_share_served_is_the_percentage_within_three_points() -> None:
    ids = [Caller(f"user-{i}") for i in range(2000)]
    for percent in (5, 10, 25, 50, 90):
        served = sum(serves(_rollout(percent=percent), who) for who in ids) / len(ids)
        assert abs(served - percent / 100) <= 0.03, (percent, served)
    # Growing the share keeps everyone already in: buckets below 10% are below 25% too.
    small = {w.id for w in ids if serves(_rollout(percent=10), w)}
    large = {w.id for w in ids if serves(_rollout(percent=25), w)}
    assert small < large


def test_the_pilot_serves_its_members_only_by_principal_user_or_key() -> None:
    r = _rollout(pilot=("alice", "key:key_abc"))
    assert serves(r, caller("alice", ("developer",), "acme", "key_x", None))
    assert serves(r, caller("svc", ("app",), "acme", "key_abc", "someone"))
    assert not serves(r, caller("bob", ("developer",), "acme", "key_x", None))
    # Members stay in when the release moves on to a share that would not pick them.
    nobody = _rollout(percent=0.01, pilot=("alice",))
    assert serves(nobody, caller("alice", (), "acme", None, None))


def test_an_app_keys_end_users_are_spread_by_the_user_field() -> None:
    a = caller("billing-app", ("app",), "acme", "key_1", "alice")
    b = caller("billing-app", ("app",), "acme", "key_1", "bob")
    other_tenant = caller("billing-app", ("app",), "globex", "key_2", "alice")
    assert a.id == "acme/alice" and b.id == "acme/bob" and other_tenant.id == "globex/alice"
    # A person's own key is the person, whatever `user` says.
    assert caller("carol", ("developer",), "acme", "key_3", "mallory").id == "carol"
    assert caller("billing-app", ("app",), "acme", "key_1", None).id == "billing-app"
