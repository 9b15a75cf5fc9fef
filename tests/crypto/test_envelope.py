"""Field encryption: round trips, one data key per tenant, wrong or missing keys fail
clearly, tampering is detected, and a master key rotation keeps old records readable."""

from __future__ import annotations

import base64
import secrets

import pytest

from lockgate.crypto.envelope import Keyring, NoEncryption, WrappedKey, is_encrypted
from lockgate.crypto.kms import EncryptionError, LocalMasterKey, decode_key, key_from_file


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, WrappedKey] = {}

    def for_tenant(self, tenant: str) -> WrappedKey | None:
        return next((k for k in self.keys.values() if k.tenant == tenant), None)

    def by_id(self, key_id: str) -> WrappedKey | None:
        return self.keys.get(key_id)

    def add(self, key: WrappedKey) -> WrappedKey:
        self.keys[key.id] = key
        return key

    def all(self) -> list[WrappedKey]:
        return list(self.keys.values())

    def rewrap(self, keys: list[WrappedKey]) -> None:
        for k in keys:
            self.keys[k.id] = k


def master() -> LocalMasterKey:
    return LocalMasterKey(secrets.token_bytes(32))


def test_round_trip_and_one_key_per_tenant() -> None:
    store = MemoryKeys()
    ring = Keyring(master(), store)
    a = ring.encrypt("Alice's salary is 90k", "acme")
    b = ring.encrypt("Bob's salary is 80k", "globex")
    assert is_encrypted(a) and "salary" not in a
    assert ring.decrypt(a) == "Alice's salary is 90k" and ring.decrypt(b) == "Bob's salary is 80k"
    assert len(store.keys) == 2 and {k.tenant for k in store.keys.values()} == {"acme", "globex"}
    assert ring.encrypt("same", "acme") != ring.encrypt("same", "acme")  # fresh nonce each time
    assert ring.decrypt("plain text written before encryption") == (
        "plain text written before encryption"
    )


def test_the_wrong_master_key_fails_clearly() -> None:
    store = MemoryKeys()
    sealed = Keyring(master(), store).encrypt("secret", "acme")
    with pytest.raises(EncryptionError, match="not configured"):
        Keyring(master(), store).decrypt(sealed)
    with pytest.raises(EncryptionError, match="configure the master key"):
        NoEncryption().decrypt(sealed)


def test_tampering_is_detected() -> None:
    ring = Keyring(master(), MemoryKeys())
    sealed = ring.encrypt("pay 10 EUR", "acme")
    head, blob = sealed.rsplit(":", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(EncryptionError, match="integrity"):
        ring.decrypt(f"{head}:{base64.b64encode(bytes(raw)).decode()}")


def test_rotation_rewraps_and_keeps_old_records_readable() -> None:
    store = MemoryKeys()
    old, new = master(), master()
    sealed = Keyring(old, store).encrypt("kept across rotation", "acme")
    assert Keyring(old, store).rotate_master(new) == 1
    assert all(k.master_id == new.key_id for k in store.keys.values())
    assert Keyring(new, store).decrypt(sealed) == "kept across rotation"
    with pytest.raises(EncryptionError):
        Keyring(old, store).decrypt(sealed)  # the old key alone no longer opens it
    # During a rolling restart the old key may still be configured as the previous one.
    assert Keyring(new, store, previous=old).decrypt(sealed) == "kept across rotation"


def test_key_file_is_created_owner_only(tmp_path) -> None:
    path = tmp_path / "keys" / "master.key"
    key = key_from_file(path, create=True)
    assert key is not None and path.stat().st_mode & 0o777 == 0o600
    assert key_from_file(path, create=False).key_id == key.key_id  # type: ignore[union-attr]
    with pytest.raises(EncryptionError, match="32 bytes"):
        decode_key(base64.b64encode(b"short").decode(), "test key")
