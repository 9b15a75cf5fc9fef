"""Every readiness check, in the order of the checklists (data, cost, security, operations).
A check that cannot read what it needs fails with the reason rather than ending the report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockgate.readiness import cost, data, ops, security
from lockgate.readiness.model import Context, Item, Report

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.readiness")

CHECKS: tuple[tuple[str, Callable[[Context], Item]], ...] = (
    ("chunking", data.chunking),
    ("freshness", data.freshness),
    ("non_parsable", data.non_parsable),
    ("semantic_cache", cost.semantic_cache),
    ("model_router", cost.model_router),
    ("cost_ceiling", cost.cost_ceiling),
    ("pii_scrubbing", security.pii_scrubbing),
    ("private_endpoints", security.private_endpoints),
    ("human_review", security.human_review),
    ("eval_set", ops.eval_set),
    ("eval_gate", ops.eval_gate),
    ("monitoring_alerting", ops.monitoring),
    ("rollback", ops.rollback),
    ("load_test", ops.load_test),
    ("audit_integrity", security.audit_integrity),
    ("backups", security.backups),
)


def run(services: Services) -> Report:
    ctx = Context(services)
    report = Report()
    for item_id, check in CHECKS:
        try:
            report.items.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one unreadable source fails its item only
            log.exception("readiness check %s failed", item_id)
            report.items.append(Item(item_id, item_id, "fail",
                                     f"could not be checked: {type(exc).__name__}: {exc}",
                                     "see the log for the error"))
    return report
