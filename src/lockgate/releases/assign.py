"""Who gets the rollout release: the pilot's allow-list, then a sticky share of callers.

The caller is identified by `user_id`: the principal's id, except for a key whose only role is
`app` (a service calling for many people) with the request's `user` field set, where it is
that user, so that one app's end users are spread over both sides instead of all following
the app's key. The bucket is SHA-256 of the release name and that id, so it is the same for
a caller on every request and every gateway process, and independent between releases (the
same callers are not always the first to try everything)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lockgate.releases.model import BUCKETS, Release

KEY_PREFIX = "key:"


@dataclass(frozen=True)
class Caller:
    id: str  # what the bucket is hashed from
    # Further names a pilot's allow-list may use: the principal's id and `key:<key id>`.
    names: frozenset[str] = frozenset()


def caller(
    principal_id: str, roles: tuple[str, ...], tenant: str, key_id: str | None, user: str | None
) -> Caller:
    who = principal_id
    if user and roles == ("app",):
        # Scoped by tenant: two tenants' "alice" are different people.
        who = f"{tenant}/{user}"
    names = {who, principal_id}
    if key_id:
        names.add(f"{KEY_PREFIX}{key_id}")
    return Caller(who, frozenset(names))


def bucket(release: str, who: str) -> int:
    digest = hashlib.sha256(f"{release}\x00{who}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_pilot(release: Release, who: Caller) -> bool:
    return not who.names.isdisjoint(release.pilot)


def serves(release: Release, who: Caller) -> bool:
    """Whether the rollout `release` serves this caller."""
    if release.stage == "pilot":
        return in_pilot(release, who)
    if release.stage == "percentage":
        if in_pilot(release, who):
            return True
        share = round((release.percent or 0.0) * BUCKETS / 100)
        return bucket(release.name, who.id) < share
    return False
