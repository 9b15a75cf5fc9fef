"""Scanner registry. A new scanner is one module in `guardrails/scanners/` that calls
`register("name")` on a factory taking (params, deps)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.guardrails.base import Scanner
from lockgate.models.base import EmbeddingModel


@dataclass
class ScannerDeps:
    """Shared, already-loaded resources a scanner may use."""

    embedder: EmbeddingModel


ScannerFactory = Callable[[dict[str, Any], ScannerDeps], Scanner]
SCANNERS: dict[str, ScannerFactory] = {}


def register(name: str) -> Callable[[ScannerFactory], ScannerFactory]:
    def deco(factory: ScannerFactory) -> ScannerFactory:
        SCANNERS[name] = factory
        return factory

    return deco


def load_builtin() -> None:
    import lockgate.guardrails.scanners as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def build(name: str, params: dict[str, Any], deps: ScannerDeps) -> Scanner:
    load_builtin()
    if name not in SCANNERS:
        raise ValueError(
            f"unknown guardrail scanner '{name}' (known: {', '.join(sorted(SCANNERS))})"
        )
    return SCANNERS[name](params, deps)
