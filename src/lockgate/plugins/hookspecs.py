"""Every extension point, one hook each. Built-ins implement the same hooks a third-party
package does, so the list below is the whole table of contents of what can be plugged in.

`register_*` hooks receive a `register(name, thing)` callable; the manager collects what they
register into one registry per kind and refuses a name registered twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("lockgate")
hookimpl = pluggy.HookimplMarker("lockgate")

Register = Callable[[str, Any], None]


@hookspec
def register_stages(register: Register) -> None:
    """Request pipeline layers: register(name, factory(services) -> Stage, or None when the
    stage has nothing to do under the configuration and is left out)."""


@hookspec
def register_scanners(register: Register) -> None:
    """Guardrail scanners: register(name, scanner class with `Params` and `build`)."""


@hookspec
def register_chat_backends(register: Register) -> None:
    """Chat backends: register(backend name, factory(model name, spec, home) -> ChatBackend)."""


@hookspec
def register_embedding_backends(register: Register) -> None:
    """Embedding backends: register(backend name, factory(spec) -> EmbeddingBackend)."""


@hookspec
def register_parsers(register: Register) -> None:
    """Document parsers: register(format, parser)."""


@hookspec
def register_chunkers(register: Register) -> None:
    """Chunking strategies: register(strategy name, fn(doc, target, overlap, embedder))."""


@hookspec
def register_sources(register: Register) -> None:
    """Document sources: register(kind, factory(spec, ingest config, skip) -> Connector)."""


@hookspec
def register_commands(cli: Any) -> None:
    """CLI commands: add click commands or groups to the `lockgate` group."""


@hookspec
def register_routes(routes: list[Any], services: Any) -> None:
    """HTTP routes: append Starlette routes to the gateway's route list."""


@hookspec(firstresult=True)
def principal_from_request(request: Any, services: Any) -> Any:
    """Who is calling: return a Principal, or None to let the next implementation decide.
    `request` is the HTTP request (headers, client address). Unless `auth.allow_anonymous` is
    set, only a principal with `authenticated=True` gets past the edge; raise
    `lockgate.auth.keys.AuthFailure` to refuse a credential (a 401, counted and audited)."""


@hookspec(firstresult=True)
def tool_approvals(services: Any) -> Any:
    """Who approves model calls to tools with side effects: return a `ToolApprovals`
    (lockgate.engine.approvals), or None to let the next implementation decide. With none,
    every such call is refused."""


@hookspec
def track_event(event: Any, services: Any) -> None:
    """Receive every engine event (turn finished, guard finding, budget alert, ...), at once,
    in the thread that emits it (on a gateway, mostly the request's event loop): it must not
    block. A subscriber that writes to a store implements `store_events` instead."""


@hookspec
def store_events(events: list[Any], services: Any) -> None:
    """Write a batch of events to a store, off the request path: called on the process's one
    event writer thread (observability/dispatch.py), in the order the events were emitted,
    one call per batch, after `track_event` saw each of them. Readers of what it writes
    call `lockgate.store.pending.settle()` first, to see the events accepted before."""
