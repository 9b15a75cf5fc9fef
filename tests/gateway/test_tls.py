"""HTTPS from config: `server.tls_cert_file` and `server.tls_key_file` make `lockgate serve`
speak TLS (a client that trusts the certificate gets answers; plain HTTP does not), and a
half-configured pair stops start-up with the keys named."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lockgate.cli.serve import uvicorn_limits
from lockgate.config import ConfigError, load_settings
from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.server import serve


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_the_gateway_serves_https_from_config(tmp_path, embedder, fake_upstream) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_settings(
        tmp_path / "home",
        fake_upstream,
        server={"tls_cert_file": str(cert), "tls_key_file": str(key)},
    )
    app = create_app(make_services(settings, embedder), preload_models=False)
    with serve(app, **uvicorn_limits(settings.server)) as base:
        https = base.replace("http://", "https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(https + "/healthz", verify=trusted, timeout=10).status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(https + "/healthz", timeout=10)  # an untrusted certificate is refused
        with pytest.raises(httpx.HTTPError):
            httpx.get(base + "/healthz", timeout=10)  # no plain HTTP on the TLS port


def test_a_certificate_without_its_key_stops_start_up(tmp_path) -> None:
    cert, _ = self_signed(tmp_path)
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(f"server: {{tls_cert_file: '{cert}'}}\n")
    with pytest.raises(ConfigError, match="tls_cert_file and server.tls_key_file"):
        load_settings(cfg)
