"""Decision callbacks: a signed POST to the URL an app configured, through the same egress
policy as URL ingest, so a callback URL cannot be pointed at the gateway's own host, the
private network or a cloud metadata endpoint unless the config allows that host or network.

The signature header is `x-lockgate-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` with the secret from `secret_env`; receivers check it with `verify` (or the
same three lines) and refuse stale timestamps, so a captured callback cannot be replayed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from lockgate.config import ReviewCallback
from lockgate.ingest.egress import EgressDenied, EgressPolicy

log = logging.getLogger("lockgate.review")

SIGNATURE_HEADER = "x-lockgate-signature"
# (host, port) -> the addresses it resolves to, as `lockgate.ingest.sources.pinned` takes it.
Resolver = Callable[[str, int], list[str]]
USER_AGENT = "lockgate-review-callback/1"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes, header: str, body: bytes, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether `header` is a valid, fresh signature of `body` under `secret`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1')}")


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    status: int | None
    attempts: int
    error: str | None = None

    def describe(self) -> str:
        if self.delivered:
            return f"delivered (HTTP {self.status})"
        return f"failed: {self.error}"


class CallbackSender:
    """POSTs decisions. `resolver` and `sleep` are replaceable so tests need no DNS or wait."""

    def __init__(
        self, resolver: Resolver | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.resolver = resolver
        self.sleep = sleep

    def send(self, cfg: ReviewCallback, payload: dict[str, Any]) -> Delivery:
        secret = cfg.signing_key()
        if secret is None:
            # Unsigned, a decision could be forged by anyone who can reach the receiver.
            return Delivery(
                False, None, 0, f"no signing secret: set {cfg.secret_env} or callback.secret"
            )
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        policy = EgressPolicy.from_config(cfg.fetch)
        try:
            policy.check_url(cfg.url)
        except EgressDenied:
            return Delivery(False, None, 0, "refused by the callback fetch policy")
        # Imported on first use: the ingest sources are not otherwise loaded by a gateway.
        from lockgate.ingest.sources import pinned

        review_id = str(payload.get("review", {}).get("id", ""))
        last = Delivery(False, None, 0, "not sent")
        resolver = self.resolver or pinned.resolve
        with pinned.client(policy, cfg.timeout_s, USER_AGENT, resolver) as client:
            for attempt in range(1, cfg.attempts + 1):
                last = self._once(client, cfg, secret, body, review_id, attempt)
                if last.delivered or not _transient(last):
                    return last
                if attempt < cfg.attempts:
                    self.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
        return last

    def _once(
        self,
        client: httpx.Client,
        cfg: ReviewCallback,
        secret: bytes,
        body: bytes,
        review_id: str,
        attempt: int,
    ) -> Delivery:
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            "x-lockgate-review-id": review_id,
            "x-lockgate-event": "review.decided",
        }
        try:
            resp = client.post(cfg.url, content=body, headers=headers)
        except EgressDenied:
            # The transport's message would say which addresses were tried; this does not.
            return Delivery(False, None, attempt, "refused by the callback fetch policy")
        except httpx.HTTPError as exc:
            log.debug("callback to %s failed: %s: %s", host_of(cfg.url), type(exc).__name__, exc)
            return Delivery(False, None, attempt, f"could not connect ({type(exc).__name__})")
        resp.close()
        if 200 <= resp.status_code < 300:
            return Delivery(True, resp.status_code, attempt)
        # Redirects are not followed: the target of one was never checked against the policy.
        return Delivery(False, resp.status_code, attempt, f"HTTP {resp.status_code}")


def _transient(d: Delivery) -> bool:
    if d.error and d.error.startswith("could not connect"):
        return True
    return d.status is not None and (d.status == 429 or d.status >= 500)


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
