"""The audit subscriber: turns engine events into audit log entries.

A finished turn that put document chunks in front of the model becomes `document.access`
(who saw which chunks of which document versions); any other event class that sets
`audit = True` is recorded under its `name`, so new events (authentication, key changes,
review decisions) are audited by being defined, not by a branch here. Runs on the event
writer thread (observability/dispatch.py), a batch at a time in the order the events were
emitted, after the answer is on its way: one chain, appended under the head's lock."""

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
def store_events(events: list[Event], services: AuditServices) -> None:
    """The batch's entries, in the order of their events, appended in one transaction; should
    it fail, each on its own, so that one bad entry loses only itself."""
    entries: list[tuple[Event, dict[str, Any]]] = []
    digest: str | None = None  # of the last config.loaded, once one was read or batched
    for event in events:
        entry = entry_of(event)
        if entry is None or not services.settings.audit.records(entry["kind"]):
            continue
        if isinstance(event, ConfigLoaded):
            try:
                if digest is None:
                    last = services.audit.last("config.loaded")
                    digest = "" if last is None else str(last["data"].get("digest"))
            except Exception:  # noqa: BLE001 - logged; an audit failure must not fail the answer
                log.exception("could not read the last config.loaded entry")
                digest = ""
            entry["data"]["changed"] = digest != event.digest
            digest = event.digest
        entries.append((event, entry))
    if not entries:
        return
    try:
        services.audit.append_many([entry for _, entry in entries])
        return
    except Exception:  # noqa: BLE001 - retried one by one below
        if len(entries) > 1:
            log.warning(
                "could not append a batch of %d audit entries; appending each", len(entries)
            )
    for event, entry in entries:
        try:
            services.audit.append(**entry)
        except Exception:  # noqa: BLE001 - logged; an audit failure must not fail the answer
            log.exception(
                "could not write audit entry %s (trace %s)", entry["kind"], event.trace_id
            )


def entry_of(event: Event) -> dict[str, Any] | None:
    """The audit entry an event makes (`append`'s arguments), or None."""
    if isinstance(event, TurnFinished):
        return document_access(event)
    if type(event).audit:
        return generic(event)
    return None


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
