"""Build the field cipher a store uses from the settings."""

from __future__ import annotations

from pathlib import Path

from lockgate.crypto.envelope import DataKeyStore, FieldCipher, Keyring, NoEncryption
from lockgate.crypto.kms import EncryptionError, LocalMasterKey, key_from_env, key_from_file


def master_key(env: str, key_file: Path, create: bool) -> LocalMasterKey | None:
    return key_from_env(env) or key_from_file(key_file, create)


def build_cipher(
    enabled: bool,
    env: str,
    key_file: Path,
    create: bool,
    previous_env: str | None,
    store: DataKeyStore,
) -> FieldCipher:
    if not enabled:
        return NoEncryption()
    master = master_key(env, key_file, create)
    if master is None:
        raise EncryptionError(
            f"encryption is on but there is no master key: set {env} (base64 of 32 random "
            f"bytes) or provide the key file {key_file}"
        )
    previous = key_from_env(previous_env) if previous_env else None
    if previous is None:
        previous = key_from_file(previous_file(key_file), create=False)
    return Keyring(master, store, previous)


def previous_file(key_file: Path) -> Path:
    """Where a rotation keeps the old key file, so processes not yet restarted still read."""
    return key_file.with_name(key_file.name + ".previous")
