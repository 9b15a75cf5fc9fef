"""Encryption at rest of prompts, outputs and cached answers."""

from __future__ import annotations

from pathlib import Path

from lockgate.config._base import Strict


class EncryptionConfig(Strict):
    enabled: bool = True
    # The master key (base64 of 32 random bytes): from this variable if it is set, else from
    # the key file. It wraps the per-tenant data keys and never enters the store.
    master_key_env: str = "LOCKGATE_MASTER_KEY"
    master_key_file: Path | None = None  # default: master.key under LOCKGATE_HOME
    # On first use, create the key file (owner-only) when no key is configured, so the
    # embedded default is encrypted too; a deployment sets the variable from its secret store.
    create_key_file: bool = True
    # During a master key rotation: the key the data keys may still be wrapped with.
    previous_key_env: str | None = "LOCKGATE_PREVIOUS_MASTER_KEY"
