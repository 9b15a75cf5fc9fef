"""OIDC bearer tokens (JWTs) checked against the configured issuer's key set."""

from __future__ import annotations


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts: a compact JWS."""
    return token.count(".") == 2 and all(token.split("."))
