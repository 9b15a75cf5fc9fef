"""Sidecar metadata files: `<document>.meta.yaml` next to a document (on disk or in S3).

A sidecar is a handful of `key: value` lines, and it is read with that in mind: at most
`MAX_SIDECAR_BYTES`, no anchors or aliases (YAML's aliases let ~300 bytes expand to
millions of characters, even with `safe_load`), and only scalar values kept. Anything else
is a `SidecarError`, which callers record as `sidecar_error` and then carry on.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml")
MAX_SIDECAR_BYTES = 64 * 1024
_SCALARS = (str, int, float, bool, dt.date)


class SidecarError(ValueError):
    """A sidecar that is not read: too large, not YAML, or using a refused YAML feature."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (and so merge keys, which need them)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def sidecar_path(path: Path) -> Path | None:
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(raw: bytes) -> dict[str, str]:
    """The scalar `key: value` pairs of a sidecar; nested values are dropped."""
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"{len(raw)} bytes, over the limit of {MAX_SIDECAR_BYTES}")
    try:
        data = yaml.load(raw.decode("utf-8", errors="replace"), Loader=_NoAliasLoader)
    except yaml.composer.ComposerError as exc:
        if "anchors and aliases" in str(exc):
            raise SidecarError("anchors and aliases are not allowed") from exc
        raise SidecarError("invalid YAML") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise SidecarError("invalid YAML") from exc
    if not isinstance(data, dict):
        return {}
    return {
        str(k): str(v)
        for k, v in data.items()
        if isinstance(k, _SCALARS) and isinstance(v, _SCALARS)
    }
