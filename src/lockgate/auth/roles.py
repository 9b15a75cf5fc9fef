"""The roles a principal can carry. What each role may do is decided per endpoint elsewhere;
here they are only named, so that a typo in `--role` fails when the key is made."""

from __future__ import annotations

ADMIN = "admin"
ROLES: tuple[str, ...] = (ADMIN, "developer", "reviewer", "analyst", "app")


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The roles, deduplicated in order; ValueError naming the unknown one."""
    if not roles:
        raise ValueError(f"at least one role is required (one of: {', '.join(ROLES)})")
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (known: {', '.join(ROLES)})")
    return tuple(dict.fromkeys(roles))
