"""Which app a request runs as. The app picks the guardrail policy (and labels the request's
project for budgets), so it comes from the credential: an API key's apps, an OIDC token's app
claim. A caller may name one of its credential's apps (header, `metadata.app`, a check's
`app` field); naming any other is refused, not ignored, so a client that expected a policy
learns at once that it does not have it. `auth.trust_client_app` restores the caller's choice
for deployments where every caller is trusted."""

from __future__ import annotations

from lockgate.engine.errors import GatewayError
from lockgate.engine.turn import Principal


def resolve_app(
    principal: Principal, requested: str | None, trusted: bool = False, param: str | None = None
) -> str | None:
    """The app to run as: the requested one when allowed, else the credential's default;
    GatewayError 403 `app_not_allowed` when the caller names an app it may not use."""
    wanted = requested.strip() if isinstance(requested, str) else None
    if not wanted:
        return principal.apps[0] if principal.apps else None
    if trusted or wanted in principal.apps:
        return wanted
    allowed = ", ".join(principal.apps) if principal.apps else "none"
    raise GatewayError(
        403,
        f"this credential may not run as app '{wanted}' (its apps: {allowed}); the app and "
        "its guardrail policy come from the API key or token",
        "app_not_allowed",
        param,
    )
