"""The stage machine: draft -> pilot -> percentage -> full, rollback from any live stage.

At most one release is in rollout (pilot or percentage) at a time, next to the current (full)
one; promoting a release to full makes it current and retires the one before. A rolled-back
or retired release never serves again: trying again is a new release. These are pure
decisions on the releases as read; the store applies one in a transaction that re-checks
the stage it was decided on."""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.releases.model import FINISHED, ROLLOUT, Release, ReleaseError
from lockgate.store.releases import Transition

TARGETS = ("pilot", "percentage", "full")


def _live(release: Release) -> None:
    if release.stage in FINISHED:
        raise ReleaseError(
            f"release '{release.name}' is {release.stage.replace('_', ' ')} and cannot serve "
            "again; create a new release to try again"
        )


def promote(
    release: Release,
    target: str,
    current: Release | None,
    rollout: Release | None,
    percent: float | None = None,
    pilot: Sequence[str] = (),
) -> Transition:
    _live(release)
    if target not in TARGETS:
        raise ReleaseError(f"unknown stage '{target}' (known: {', '.join(TARGETS)})")
    if release.stage == "full":
        raise ReleaseError(f"release '{release.name}' is already full (the current release)")
    if rollout is not None and rollout.name != release.name:
        raise ReleaseError(
            f"release '{rollout.name}' is in rollout ({rollout.stage}); promote it to full or "
            "roll it back first: one release rolls out at a time"
        )
    members = tuple(dict.fromkeys(p.strip() for p in pilot if p.strip()))
    if target == "pilot":
        if not members:
            raise ReleaseError("a pilot needs at least one principal or key:<id> to serve")
        return Transition(release.name, release.stage, "pilot", pilot=members)
    if target == "percentage":
        if percent is None or not 0 < percent < 100:
            raise ReleaseError(
                "a percentage rollout needs a share above 0 and below 100 (use --full for all)"
            )
        if round(percent * 100) != percent * 100:
            raise ReleaseError("a percentage is judged in hundredths: at most 2 decimals")
        # The pilot's members stay in while the share grows, so nobody flips back and forth.
        return Transition(
            release.name, release.stage, "percentage", percent=percent,
            pilot=members or release.pilot,
        )
    return Transition(
        release.name, release.stage, "full",
        retire=current.name if current is not None else None,
    )


def rollback(release: Release, reason: str) -> Transition:
    _live(release)
    if not reason.strip():
        raise ReleaseError("a rollback needs a reason")
    restore = release.previous if release.stage == "full" else None
    return Transition(
        release.name, release.stage, "rolled_back", restore=restore, reason=reason.strip()
    )


def split(releases: Sequence[Release]) -> tuple[Release | None, Release | None]:
    """(current, rollout) among `releases`."""
    current = next((r for r in releases if r.stage == "full"), None)
    rollout = next((r for r in releases if r.stage in ROLLOUT), None)
    return current, rollout
