"""The scanners that ship with Lockgate, registered through the same hook a plugin uses."""

from __future__ import annotations

from lockgate.plugins import hookimpl
from lockgate.plugins.hookspecs import Register


@hookimpl
def register_scanners(register: Register) -> None:
    # Imported when the hook runs, not when the plugin manager starts (every CLI command).
    from lockgate.guardrails.scanners.grounding import GroundingScanner
    from lockgate.guardrails.scanners.injection import InjectionScanner
    from lockgate.guardrails.scanners.leak import LeakScanner
    from lockgate.guardrails.scanners.pii import PIIScanner
    from lockgate.guardrails.scanners.topic import TopicScanner
    from lockgate.guardrails.scanners.toxicity import ToxicityScanner

    for scanner in (
        PIIScanner,
        InjectionScanner,
        ToxicityScanner,
        TopicScanner,
        LeakScanner,
        GroundingScanner,
    ):
        register(scanner.name, scanner)
