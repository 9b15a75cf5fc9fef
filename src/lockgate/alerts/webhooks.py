"""Posting an alert to a webhook: Slack-compatible JSON (`text` and `blocks`, which Slack,
Mattermost and most chat tools render) plus a `lockgate` field holding the alert as data for
receivers that parse it. Connection errors, 429 and 5xx are retried with exponential backoff
(a 429's Retry-After is honoured up to `max_backoff_s`); any other answer is final."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from lockgate.config.alerts import AlertWebhook
from lockgate.store.alerts import AlertRecord

log = logging.getLogger("lockgate.alerts")

USER_AGENT = "lockgate-alerts/1"
_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


def payload(alert: AlertRecord) -> dict[str, Any]:
    when = datetime.fromtimestamp(alert.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    state = "RESOLVED" if alert.state == "resolved" else alert.severity.upper()
    title = f"[{state}] {alert.rule}: {alert.message}"
    facts = [f"rule `{alert.rule}`", f"kind `{alert.kind}`"]
    if alert.subject:
        facts.append(f"subject `{alert.subject}`")
    if alert.value is not None and alert.threshold is not None:
        facts.append(f"value {alert.value:.4g} / threshold {alert.threshold:.4g}")
    facts.append(when)
    return {
        "text": title,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{_EMOJI.get(alert.severity, '')} *{state}* {alert.message}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]},
        ],
        "lockgate": {k: v for k, v in alert.as_dict().items() if k != "deliveries"},
    }


@dataclass(frozen=True)
class Delivery:
    webhook: str
    delivered: bool
    status: int | None
    attempts: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "webhook": self.webhook,
            "delivered": self.delivered,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
        }


class WebhookSender:
    """`sleep` is replaceable so tests of the backoff need not wait it out."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep

    def send(self, hook: AlertWebhook, body: dict[str, Any]) -> Delivery:
        url = hook.target()
        if url is None:
            return Delivery(hook.name, False, None, 0, f"{hook.url_env} is not set")
        data = json.dumps(body, separators=(",", ":"), default=str).encode()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        last = Delivery(hook.name, False, None, 0, "not sent")
        with httpx.Client(timeout=hook.timeout_s, follow_redirects=False) as client:
            for attempt in range(1, hook.attempts + 1):
                wait = None
                try:
                    resp = client.post(url, content=data, headers=headers)
                except httpx.HTTPError as exc:
                    last = Delivery(hook.name, False, None, attempt, type(exc).__name__)
                else:
                    if 200 <= resp.status_code < 300:
                        return Delivery(hook.name, True, resp.status_code, attempt)
                    last = Delivery(
                        hook.name, False, resp.status_code, attempt, f"HTTP {resp.status_code}"
                    )
                    if resp.status_code != 429 and resp.status_code < 500:
                        return last  # a refusal (bad URL, revoked hook) is not fixed by retrying
                    wait = _retry_after(resp)
                if attempt < hook.attempts:
                    backoff = hook.backoff_s * 2 ** (attempt - 1)
                    self.sleep(min(wait if wait is not None else backoff, hook.max_backoff_s))
        log.warning("alert webhook %s failed after %d attempts: %s", hook.name, last.attempts,
                    last.error)
        return last


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
