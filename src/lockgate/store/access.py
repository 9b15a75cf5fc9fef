"""Who may see a document: its tenant and, optionally, the groups within that tenant.

A document with no groups is visible to everyone in its tenant; one with groups only to
callers in at least one of them. Chunks carry a copy of their document's access list
(`chunks.tenant`, `chunks.acl`) so retrieval filters on the row it scores, without a join."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Access:
    tenant: str = DEFAULT_TENANT
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, tenant: str, groups: Iterable[str] = ()) -> Access:
        return cls(tenant, tuple(sorted({g for g in groups if g})))

    def acl(self) -> str:
        """The JSON list stored in `documents.acl` / `chunks.acl`."""
        return json.dumps(list(self.groups))

    def allows(self, tenant: str, acl: str | None) -> bool:
        """Whether a caller with this access may see a row of `tenant` with `acl`."""
        if tenant != self.tenant:
            return False
        groups = json.loads(acl or "[]")
        return not groups or bool(set(groups) & set(self.groups))


class TenantConflict(ValueError):
    """A source already belongs to another tenant: one tenant's upload never replaces
    another's document."""
