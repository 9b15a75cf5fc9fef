"""Over TLS the session cookie is also `Secure`, so a browser never sends it in clear."""

from __future__ import annotations

import re
import ssl

import httpx

from lockgate.cli.serve import uvicorn_limits
from lockgate.gateway.app import create_app
from lockgate.ui.session import COOKIE
from tests.conftest import make_services, make_settings
from tests.gateway.test_tls import self_signed
from tests.support.server import serve


def test_the_session_cookie_is_secure_over_https(tmp_path, embedder, fake_upstream) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_settings(
        tmp_path / "home",
        fake_upstream,
        auth={"max_failures": 1000},
        server={"tls_cert_file": str(cert), "tls_key_file": str(key)},
    )
    services = make_services(settings, embedder)
    _, api_key = services.api_keys.create("ops", "acme", ["admin"])
    app = create_app(services, preload_models=False)
    with serve(app, **uvicorn_limits(settings.server)) as base:
        trusted = ssl.create_default_context(cafile=str(cert))
        https = base.replace("http://", "https://")
        with httpx.Client(base_url=https, verify=trusted, timeout=30) as c:
            form = c.get("/ui/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token is not None
            resp = c.post("/ui/login", data={"credential": api_key, "csrf": token.group(1)})
    assert resp.status_code == 303, resp.text
    [session] = [h for h in resp.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    flags = [part.strip().lower() for part in session.split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=strict" in flags
