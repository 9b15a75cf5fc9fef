"""Master keys: they only wrap and unwrap data keys, and never touch the store themselves.
A cloud KMS implements the same two calls."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class EncryptionError(Exception):
    """The store cannot be read or written encrypted: no key, or the wrong key."""


class MasterKey(Protocol):
    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalMasterKey:
    """A 256-bit key held in this process (from an environment variable or a file)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EncryptionError("a master key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        # Names the key without revealing it, so a wrapped data key says which master it needs.
        self._id = hashlib.sha256(b"lockgate-master-key-id" + key).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._id

    def wrap(self, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, data_key, b"lockgate-data-key")

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], b"lockgate-data-key")
        except Exception as exc:  # InvalidTag: another key, or a damaged record
            raise EncryptionError("a data key could not be unwrapped with this master key") from exc


def new_master_key() -> str:
    """A fresh master key, base64, for an environment variable or a key file."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def decode_key(text: str, where: str) -> LocalMasterKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise EncryptionError(f"{where} is not base64") from exc
    try:
        return LocalMasterKey(raw)
    except EncryptionError as exc:
        raise EncryptionError(f"{where}: {exc}") from exc


def key_from_env(name: str) -> LocalMasterKey | None:
    value = os.environ.get(name)
    return decode_key(value, f"environment variable {name}") if value else None


def key_from_file(path: Path, create: bool) -> LocalMasterKey | None:
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by the owner only, in one step (no window with wider permissions).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_master_key() + "\n")
    return decode_key(path.read_text(encoding="utf-8"), f"key file {path}")
