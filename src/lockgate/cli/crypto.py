"""`lockgate keys rotate-master`: re-wrap every data key under a new master key. The data
itself is not re-encrypted, so it takes milliseconds and the gateway keeps serving."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from lockgate.auth.scopes import KEYS_ADMIN
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.crypto.envelope import Keyring
from lockgate.crypto.factory import previous_file
from lockgate.crypto.kms import EncryptionError, decode_key, key_from_env, new_master_key


def _write_owner_only(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@requires(KEYS_ADMIN)
@click.command("rotate-master")
@click.option(
    "--new-key-env",
    default=None,
    help="Read the new master key from this environment variable (else one is generated "
    "and written to the key file).",
)
@click.pass_obj
def rotate_master(obj: Ctx, new_key_env: str | None) -> None:
    """Re-wrap every data key under a new master key."""
    services = obj.services()
    cfg = services.settings.encryption
    try:
        cipher = services.cipher
        if not isinstance(cipher, Keyring):
            click.echo("lockgate: encryption is off; there is no master key to rotate", err=True)
            sys.exit(2)
        if new_key_env:
            new = key_from_env(new_key_env)
            if new is None:
                click.echo(f"lockgate: environment variable {new_key_env} is not set", err=True)
                sys.exit(2)
            count = cipher.rotate_master(new)
            click.echo(
                f"re-wrapped {count} data key(s) under master key {new.key_id}. Restart each "
                f"process with {cfg.master_key_env} set to the new key; until all have "
                f"restarted, keep the old key in {cfg.previous_key_env}."
            )
            return
        if os.environ.get(cfg.master_key_env):
            click.echo(
                f"lockgate: the master key comes from {cfg.master_key_env}; pass "
                "--new-key-env with the new key (this command never prints a key)",
                err=True,
            )
            sys.exit(2)
        key_file = cfg.master_key_file or services.settings.home / "master.key"
        text = new_master_key()
        new = decode_key(text, "the new key")
        old_text = key_file.read_text(encoding="utf-8").strip()
        count = cipher.rotate_master(new)
        # Old key kept beside the new one: a process still holding it in memory, or one
        # starting from the old file, keeps working until it reads the new file.
        _write_owner_only(previous_file(key_file), old_text)
        _write_owner_only(key_file, text)
    except EncryptionError as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(2)
    click.echo(f"re-wrapped {count} data key(s) under master key {new.key_id} ({key_file})")
