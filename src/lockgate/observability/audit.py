"""The audit subscriber: turns engine events into audit log entries.

A finished turn that put document chunks in front of the model becomes `document.access`
(who saw which chunks of which document versions); any other event class that sets
`audit = True` is recorded under its `name`, so new events (authentication, key changes,
review decisions) are audited by being defined, not by a branch here. Runs in the worker
thread the engine emits from, after the answer is on its way."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Protocol

from lockgate.config import Settings, masked
from lockgate.observability.events import ConfigLoaded, Event, TurnFinished
from lockgate.plugins.hookspecs import hookimpl
from lockgate.prompts.registry import PromptRegistry
from lockgate.store.audit import AuditLog, canonical

log = logging.getLogger("lockgate.audit")


class AuditServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def audit(self) -> AuditLog: ...


@hookimpl
def track_event(event: Event, services: AuditServices) -> None:
    if isinstance(event, TurnFinished):
        entry = document_access(event)
    elif type(event).audit:
        entry = generic(event)
    else:
        return
    if entry is None or not services.settings.audit.records(entry["kind"]):
        return
    try:
        if isinstance(event, ConfigLoaded):
            last = services.audit.last("config.loaded")
            entry["data"]["changed"] = last is None or last["data"].get("digest") != event.digest
        services.audit.append(**entry)
    except Exception:  # noqa: BLE001 - logged; an audit failure must not fail the answer
        log.exception("could not write audit entry %s (trace %s)", entry["kind"], event.trace_id)


def document_access(event: TurnFinished) -> dict[str, Any] | None:
    """Which chunks the model was shown for whom; none when no document reached the prompt."""
    trace = event.trace
    shown = [r for r in trace.get("retrieved") or [] if r.get("in_prompt")]
    if not shown:
        return None
    chunks = [
        {
            "chunk_id": r["chunk_id"],
            "document_id": r.get("document_id"),
            "version": r.get("version"),
            "source": r.get("source"),
        }
        for r in shown
    ]
    return {
        "kind": "document.access",
        "actor": trace.get("principal"),
        "tenant": trace.get("tenant"),
        "ref": event.trace_id,
        "data": {"endpoint": event.endpoint, "status": event.status, "chunks": chunks},
    }


def generic(event: Event) -> dict[str, Any]:
    props = event.properties()
    actor = props.pop("principal", None)
    tenant = props.pop("tenant", None)
    if isinstance(actor, dict):  # a Principal-like record rather than its id
        tenant = tenant or actor.get("tenant")
        actor = actor.get("id")
    props.pop("trace_id", None)
    for name in type(event).audit_omit:
        props.pop(name, None)
    return {
        "kind": event.name,
        "actor": None if actor is None else str(actor),
        "tenant": None if tenant is None else str(tenant),
        "ref": event.trace_id or None,
        "data": props,
    }


def config_loaded(settings: Settings, prompts: PromptRegistry) -> ConfigLoaded:
    """The event a starting gateway emits: digests of its config and its prompt templates."""
    digest = hashlib.sha256(canonical(masked(settings)).encode()).hexdigest()
    templates = {t.id: hashlib.sha256(t.text.encode()).hexdigest()[:16] for t in prompts.list()}
    return ConfigLoaded("", digest, templates)
