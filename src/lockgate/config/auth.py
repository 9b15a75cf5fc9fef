"""Who may call the gateway: API keys always, OIDC bearer tokens when an issuer is configured,
anonymous callers only when switched on for a local demo."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class OidcClaims(Strict):
    """Which token claims carry the tenant, the roles and the groups."""

    tenant: str = "tid"
    roles: str = "roles"
    groups: str = "groups"
    subject: str = "sub"
    # The claim that names the app(s) the token may run as (a string or a list, the first
    # being the default); unset, tokens carry no app and get the default policy.
    app: str | None = None


class OidcConfig(Strict):
    issuer: str
    audience: str
    jwks_url: str
    claims: OidcClaims = OidcClaims()
    # Clock skew tolerated on exp / nbf / iat between the issuer and this host.
    leeway_s: float = Field(30.0, ge=0, le=600)
    # How long a fetched key set is trusted before it is fetched again; an unknown `kid`
    # refetches sooner (rate-limited by `jwks_min_refresh_s`) so a rotated key works at once.
    jwks_cache_s: float = Field(300.0, ge=0)
    jwks_min_refresh_s: float = Field(10.0, ge=0)
    jwks_timeout_s: float = Field(5.0, gt=0, le=60)
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    # The tenant of a token without the tenant claim; unset, such a token is refused.
    default_tenant: str | None = None


class AuthConfig(Strict):
    # Off by default: without a valid credential every /v1 route answers 401. When on, a
    # request without a Lockgate credential is the anonymous principal (the local demo).
    allow_anonymous: bool = False
    # /metrics reveals traffic shape and model names, so it needs a credential too unless this
    # is set (for a Prometheus scraper on a trusted network).
    public_metrics: bool = False
    # Failed attempts from one client address within the window before it is refused (429)
    # for `lockout_s`; counted in this process.
    max_failures: int = Field(10, ge=1)
    failure_window_s: float = Field(60.0, gt=0)
    lockout_s: float = Field(60.0, gt=0)
    # A credential's successes are recorded once per this many seconds per key and client
    # (with how many there were), not on every request: an audit write per call would cost
    # each request a millisecond. Failures are always recorded. 0 records every success.
    success_event_interval_s: float = Field(60.0, ge=0)
    # The app (and so the guardrail policy) comes from the credential; a caller may name only
    # one of its own apps. True lets every caller choose any app with `x-lockgate-app`,
    # `metadata.app` or a check's `app`: only for deployments whose callers are all trusted.
    trust_client_app: bool = False
    oidc: OidcConfig | None = None
