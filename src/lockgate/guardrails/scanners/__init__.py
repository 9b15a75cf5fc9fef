"""Built-in scanners; each module registers itself with `lockgate.guardrails.registry`."""
