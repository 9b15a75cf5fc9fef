"""The output scan of tool-call arguments: scanned as text by the same policy as the answer
(grounding aside: it is only defined for answers from retrieved sources), without ever handing
the caller arguments that are no longer the JSON the model wrote.

Arguments that scan clean are relayed byte for byte. A redaction is applied where it keeps
the JSON valid; where it cannot (a span across JSON syntax), each string value is redacted
on its own instead, and a call whose arguments still cannot be made both clean and valid is
blocked rather than sent broken."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from lockgate.config import GuardPolicy
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.vault import Vault
from lockgate.models.base import ToolCall


class Blocked(Exception):
    """A string inside the arguments is blocked by the policy."""


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _dump(value: Any) -> str:
    # Non-ASCII stays readable: scanners look for names and addresses as people write them,
    # not as \\u escapes.
    return json.dumps(value, ensure_ascii=False)


def guard_arguments(
    guard: GuardEngine,
    vault: Vault,
    arguments: str,
    scan_ctx: ScanContext,
    policy: GuardPolicy,
) -> tuple[str | None, list[GuardResult]]:
    """The arguments to relay (None: blocked) and the scan results, for the trace."""
    try:
        value = json.loads(arguments)
    except ValueError:
        # Not JSON (the model's mistake): scanned and redacted as the plain text it is.
        result = guard.scan(vault.restore(arguments), scan_ctx, policy)
        return (None if result.action == "block" else result.text), [result]
    text = arguments
    if len(vault):
        # Placeholders the input guard put in the prompt come back to the caller as the
        # originals, restored inside each string so a quote in one cannot break the JSON.
        restored = _map_strings(value, vault.restore)
        if restored != value:
            value, text = restored, _dump(restored)
    scanned = _dump(value) if "\\u" in arguments else text
    result = guard.scan(scanned, scan_ctx, policy)
    if result.action == "block":
        return None, [result]
    if result.text == scanned:
        return text, [result]
    try:
        json.loads(result.text)
        return result.text, [result]
    except ValueError:
        pass
    results = [result]

    def one(s: str) -> str:
        r = guard.scan(s, scan_ctx, policy)
        if r.action != "allow":
            results.append(r)
        if r.action == "block":
            raise Blocked
        return r.text

    try:
        redacted = _map_strings(value, one)
    except Blocked:
        return None, results
    if redacted == value:
        # What the whole text was redacted for is not in any one string (a finding that
        # needs its context): there is no valid JSON without it, so the call is withheld.
        return None, results
    return _dump(redacted), results


def guard_calls(
    guard: GuardEngine,
    vault: Vault,
    calls: Sequence[ToolCall],
    scan_ctx: ScanContext,
    policy: GuardPolicy,
) -> tuple[list[ToolCall] | None, list[tuple[str, GuardResult]]]:
    """Every call's arguments guarded; None when any call is blocked (the answer is then
    refused whole, as a blocked sentence refuses a text answer). Results come labelled."""
    out: list[ToolCall] = []
    noted: list[tuple[str, GuardResult]] = []
    blocked = False
    for i, call in enumerate(calls):
        arguments, results = guard_arguments(guard, vault, call.arguments, scan_ctx, policy)
        noted.extend((f"tool_calls[{i}].arguments", r) for r in results)
        if arguments is None:
            blocked = True
        elif arguments == call.arguments:
            out.append(call)
        else:
            out.append(replace(call, arguments=arguments))
    return (None if blocked else out), noted
