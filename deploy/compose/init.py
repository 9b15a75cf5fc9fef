"""One-shot set-up before the gateways start (deploy/compose/compose.yaml).

Both gateways must share one master key, one dashboard session secret and one audit key,
and must not both run the store's migrations against a new database at the same moment.
This makes the secrets once, into the `keys` volume (never into the repository), then opens
the store, which applies the migrations, and the cipher, which creates the master key file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from lockgate.config import load_settings
from lockgate.services import Services

# The `keys` volume's mount point (the image makes it, owned by the gateway's user).
KEYS_DIR_ENV = "LOCKGATE_KEYS_DIR"
DEFAULT_KEYS_DIR = "/var/lib/lockgate/keys"


def make_secret(keys: Path, name: str) -> None:
    path = keys / name
    if path.exists():
        return
    # Owner-only from the moment it exists, never readable in between.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))


def main() -> None:
    keys = Path(os.environ.get(KEYS_DIR_ENV, DEFAULT_KEYS_DIR))
    make_secret(keys, "ui.secret")
    make_secret(keys, "audit.key")
    services = Services(load_settings())
    services.engine  # noqa: B018 - built, and so migrated, for its side effect
    services.cipher  # noqa: B018 - creates the master key file on first run
    services.engine.dispose()
    print("lockgate-init: store migrated, keys in place")


if __name__ == "__main__":
    main()
