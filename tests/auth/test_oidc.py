"""OIDC bearer tokens against an issuer whose key set is served over loopback HTTP: RSA and EC
keys generated here, a rotated key, and tokens that are expired, not yet valid, for another
audience or issuer, signed by the wrong key or with a forbidden algorithm. Then the same
through the gateway with the `openai` SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lockgate.auth.keys import AuthFailure
from lockgate.auth.oidc import JwksCache, OidcVerifier
from lockgate.config import OidcConfig
from lockgate.gateway.app import create_app
from lockgate.plugins.manager import registered
from tests.conftest import make_services, make_settings
from tests.gateway.test_auth import Recorder
from tests.support.server import serve

ISSUER = "https://idp.example.test/"
AUDIENCE = "lockgate"


class Issuer:
    """An identity provider: signing keys, a published key set, and a fetch counter."""

    def __init__(self) -> None:
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
        self.published: list[Any] = [self.rsa, self.ec]
        self.served = 0

    def jwks(self) -> dict[str, Any]:
        return KeySet(self.published).as_dict(private=False)  # type: ignore[return-value]

    def token(self, key: Any = None, alg: str | None = None, **claims: Any) -> str:
        key = key or self.rsa
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-42",
            "iat": now,
            "exp": now + 300,
            "tid": "acme",
            "roles": ["analyst", "idp-superuser"],
            "groups": ["finance"],
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        alg = alg or ("ES256" if isinstance(key, ECKey) else "RS256")
        return jwt.encode({"alg": alg, "kid": key.kid}, body, key)


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[Issuer, str]]:
    idp = Issuer()

    async def jwks(request: Request) -> JSONResponse:
        idp.served += 1
        return JSONResponse(idp.jwks())

    with serve(Starlette(routes=[Route("/jwks", jwks)])) as base:
        yield idp, base + "/jwks"


def _cfg(url: str, **kw: Any) -> OidcConfig:
    return OidcConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, leeway_s=5, **kw)


def test_rsa_and_ec_tokens_map_claims_to_the_principal(issuer) -> None:
    idp, url = issuer
    verifier = OidcVerifier(_cfg(url))
    for key in (idp.rsa, idp.ec):
        p = verifier.verify(idp.token(key))
        assert (p.id, p.tenant, p.roles, p.groups) == (
            "user-42",
            "acme",
            ("analyst",),
            ("finance",),
        )
        assert p.authenticated and p.auth_method == "oidc"
    # Claim names come from config; a space-separated string is a list too.
    custom = OidcVerifier(
        _cfg(url, claims={"tenant": "org", "roles": "scp", "groups": "teams"})
    ).verify(idp.token(org="beta", scp="developer app", teams=["a", "b"]))
    assert (custom.tenant, custom.roles, custom.groups) == (
        "beta",
        ("developer", "app"),
        ("a", "b"),
    )


def test_the_app_claim_binds_the_token_to_its_apps(issuer) -> None:
    idp, url = issuer
    # Unset (the default): a token carries no app, whatever it claims.
    assert OidcVerifier(_cfg(url)).verify(idp.token(lg_app="internal")).apps == ()
    bound = OidcVerifier(_cfg(url, claims={"app": "lg_app"}))
    assert bound.verify(idp.token(lg_app="internal")).apps == ("internal",)
    assert bound.verify(idp.token(lg_app=["a", "b", "a"])).apps == ("a", "b")
    assert bound.verify(idp.token()).apps == ()
    with pytest.raises(AuthFailure) as exc:
        bound.verify(idp.token(lg_app={"x": 1}))
    assert "lg_app" in exc.value.reason


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "exp"),
        ({"nbf": int(time.time()) + 120}, "nbf"),
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example.test/"}, "iss"),
        ({"exp": None}, "exp"),
        ({"tid": None}, "tid"),
        ({"groups": "ok", "roles": {"x": 1}}, "roles"),
    ],
)
def test_bad_claims_are_refused(issuer, claims: dict, reason: str) -> None:
    idp, url = issuer
    with pytest.raises(AuthFailure) as exc:
        OidcVerifier(_cfg(url)).verify(idp.token(**claims))
    assert reason in exc.value.reason
    assert exc.value.message == "invalid bearer token"


def test_leeway_allows_small_clock_skew(issuer) -> None:
    idp, url = issuer
    assert OidcVerifier(_cfg(url)).verify(idp.token(exp=int(time.time()) - 2)).id == "user-42"


def test_wrong_key_and_forbidden_algorithms_are_refused(issuer) -> None:
    idp, url = issuer
    verifier = OidcVerifier(_cfg(url))
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, other key
    with pytest.raises(AuthFailure) as exc:
        verifier.verify(idp.token(impostor))
    assert "signature" in exc.value.reason
    hmac_key = OctKey.generate_key(256, parameters={"kid": "rsa-1"})
    with pytest.raises(AuthFailure) as exc:
        verifier.verify(idp.token(hmac_key, alg="HS256"))
    assert "not allowed" in exc.value.reason
    unsigned = idp.token().rsplit(".", 1)[0] + "."
    with pytest.raises(AuthFailure):
        verifier.verify(unsigned)
    for junk in ("a.b.c", "not-a-token", "...."):
        with pytest.raises(AuthFailure):
            verifier.verify(junk)


def test_a_rotated_key_is_fetched_and_the_retired_one_refused(issuer) -> None:
    idp, url = issuer
    cache = JwksCache(_cfg(url, jwks_min_refresh_s=0))
    verifier = OidcVerifier(_cfg(url), cache)
    old_token = idp.token()
    assert verifier.verify(old_token).id == "user-42"
    assert cache.fetches == 1
    assert verifier.verify(idp.token()).id == "user-42"
    assert cache.fetches == 1  # cached
    # The issuer rotates: a new key signs, the old one is withdrawn.
    new = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    idp.published = [new, idp.ec]
    try:
        assert verifier.verify(idp.token(new, sub="after-rotation")).id == "after-rotation"
        assert cache.fetches == 2  # the unknown kid refetched at once
        with pytest.raises(AuthFailure) as exc:
            verifier.verify(old_token)
        assert "rsa-1" in exc.value.reason
    finally:
        idp.published = [idp.rsa, idp.ec]


def test_unknown_kids_cannot_force_a_fetch_per_request(issuer) -> None:
    idp, url = issuer
    cache = JwksCache(_cfg(url, jwks_min_refresh_s=60))
    verifier = OidcVerifier(_cfg(url), cache)
    verifier.verify(idp.token())
    for i in range(20):
        stranger = RSAKey.generate_key(2048, parameters={"kid": f"made-up-{i % 2}"})
        with pytest.raises(AuthFailure) as exc:
            verifier.verify(idp.token(stranger))
        assert "no issuer key with kid" in exc.value.reason
    assert cache.fetches == 1


def test_an_unreachable_issuer_is_a_refusal_not_a_crash(issuer) -> None:
    idp, _ = issuer
    verifier = OidcVerifier(_cfg("http://127.0.0.1:9/jwks", jwks_timeout_s=1))
    with pytest.raises(AuthFailure) as exc:
        verifier.verify(idp.token())
    assert "key set unavailable" in exc.value.reason


def test_the_gateway_accepts_tokens_from_the_sdk(
    issuer, tmp_path_factory, embedder, fake_upstream
) -> None:
    idp, url = issuer
    recorder = Recorder()
    with registered(recorder, name="oidc-recorder"):
        auth = {"oidc": _cfg(url).model_dump()}
        services = make_services(
            make_settings(tmp_path_factory.mktemp("oidc-home"), fake_upstream, auth=auth),
            embedder,
        )
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            client = openai.OpenAI(base_url=base + "/v1", api_key=idp.token(), max_retries=0)
            reply = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "hi"}]
            )
            trace = services.traces.get(reply.model_extra["lockgate"]["trace_id"])
            assert trace["principal"] == "user-42"
            me = httpx.get(
                base + "/v1/plugin/whoami", headers={"Authorization": f"Bearer {idp.token()}"}
            ).json()
            assert (me["id"], me["tenant"], me["roles"]) == ("user-42", "acme", ["analyst"])
            expired = idp.token(exp=int(time.time()) - 600)
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=base + "/v1", api_key=expired, max_retries=0).models.list()
            # Keys keep working next to tokens.
            _, key = services.api_keys.create("svc", "acme", ["app"])
            assert (
                httpx.get(
                    base + "/v1/models", headers={"Authorization": f"Bearer {key}"}
                ).status_code
                == 200
            )
    methods = {e.method for e in recorder.events if hasattr(e, "method")}
    assert methods == {"oidc", "api_key"}
