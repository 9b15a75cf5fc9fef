"""Field encryption: one AES-GCM data key per tenant, wrapped by the master key and kept in
the store. A value is `lgenc1:<data key id>:<base64(nonce + ciphertext)>`, so readers can
tell an encrypted value from a plain one written before encryption was switched on."""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lockgate.crypto.kms import EncryptionError, MasterKey

PREFIX = "lgenc1:"


@dataclass(frozen=True)
class WrappedKey:
    id: str
    tenant: str
    wrapped: bytes
    master_id: str


class DataKeyStore(Protocol):
    def for_tenant(self, tenant: str) -> WrappedKey | None: ...

    def by_id(self, key_id: str) -> WrappedKey | None: ...

    def add(self, key: WrappedKey) -> WrappedKey:
        """Store `key`, or return the one another process stored first for that tenant."""
        ...

    def all(self) -> list[WrappedKey]: ...

    def rewrap(self, keys: list[WrappedKey]) -> None: ...


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class Keyring:
    """Encrypts and decrypts field values; unwrapped data keys stay in memory only."""

    def __init__(
        self, master: MasterKey, store: DataKeyStore, previous: MasterKey | None = None
    ) -> None:
        self.master = master
        self.previous = previous
        self.store = store
        self._lock = threading.Lock()
        self._by_tenant: dict[str, tuple[str, AESGCM]] = {}
        self._by_id: dict[str, AESGCM] = {}

    def _unwrap(self, key: WrappedKey) -> AESGCM:
        return AESGCM(self._raw(key))

    def _raw(self, key: WrappedKey) -> bytes:
        for master in (self.master, self.previous):
            if master is not None and master.key_id == key.master_id:
                return master.unwrap(key.wrapped)
        raise EncryptionError(
            f"data key {key.id} is wrapped by master key {key.master_id}, which is not "
            "configured (set the master key it was written with, or the previous one)"
        )

    def _tenant_key(self, tenant: str) -> tuple[str, AESGCM]:
        with self._lock:
            found = self._by_tenant.get(tenant)
            if found is not None:
                return found
            stored = self.store.for_tenant(tenant)
            if stored is None:
                fresh = secrets.token_bytes(32)
                key_id = f"dk-{secrets.token_hex(8)}"
                candidate = WrappedKey(key_id, tenant, self.master.wrap(fresh), self.master.key_id)
                stored = self.store.add(candidate)
            aead = self._unwrap(stored)
            self._by_tenant[tenant] = (stored.id, aead)
            self._by_id[stored.id] = aead
            return stored.id, aead

    def _key_by_id(self, key_id: str) -> AESGCM:
        with self._lock:
            aead = self._by_id.get(key_id)
            if aead is not None:
                return aead
            stored = self.store.by_id(key_id)
            if stored is None:
                raise EncryptionError(f"data key {key_id} is not in this store")
            aead = self._unwrap(stored)
            self._by_id[key_id] = aead
            return aead

    def encrypt(self, text: str, tenant: str) -> str:
        key_id, aead = self._tenant_key(tenant)
        nonce = secrets.token_bytes(12)
        sealed = aead.encrypt(nonce, text.encode("utf-8"), key_id.encode())
        return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, value: str) -> str:
        if not is_encrypted(value):
            return value
        try:
            key_id, blob = value[len(PREFIX) :].split(":", 1)
            raw = base64.b64decode(blob)
        except ValueError as exc:
            raise EncryptionError("an encrypted value is malformed") from exc
        aead = self._key_by_id(key_id)
        try:
            return aead.decrypt(raw[:12], raw[12:], key_id.encode()).decode("utf-8")
        except Exception as exc:  # InvalidTag
            raise EncryptionError("an encrypted value failed its integrity check") from exc

    def rotate_master(self, new: MasterKey) -> int:
        """Re-wrap every data key under `new`; the data itself is not touched."""
        keys = self.store.all()
        rewrapped = [WrappedKey(k.id, k.tenant, new.wrap(self._raw(k)), new.key_id) for k in keys]
        self.store.rewrap(rewrapped)
        return len(rewrapped)


class NoEncryption:
    """Encryption switched off: values are stored as they are; encrypted ones cannot be read."""

    def encrypt(self, text: str, tenant: str) -> str:
        return text

    def decrypt(self, value: str) -> str:
        if is_encrypted(value):
            raise EncryptionError(
                "this store holds encrypted records; configure the master key "
                "(encryption.master_key_env or encryption.master_key_file) to read them"
            )
        return value


class FieldCipher(Protocol):
    def encrypt(self, text: str, tenant: str) -> str: ...

    def decrypt(self, value: str) -> str: ...
