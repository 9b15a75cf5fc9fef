"""Built-in scanners, one module each; `lockgate.guardrails.builtin` registers them."""
