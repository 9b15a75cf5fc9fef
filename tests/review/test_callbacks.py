"""Decision callbacks against a real loopback receiver: signed so a receiver can check them
(and refuse a stale or altered one), refused for loopback under the default egress policy
and sent once the policy allows it, redirects not followed, transient failures retried."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lockgate.config import ReviewCallback
from lockgate.review.callbacks import SIGNATURE_HEADER, CallbackSender, sign, verify
from tests.support.server import serve

SECRET_ENV = "REVIEW_CALLBACK_TEST_SECRET"
PAYLOAD = {"type": "review.decided", "review": {"id": "rev_" + "a" * 24, "status": "approved"}}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[Request], list[bytes]]]:
    seen: list[Request] = []
    bodies: list[bytes] = []
    flaky = {"left": 2}

    async def ok(request: Request) -> Response:
        seen.append(request)
        bodies.append(await request.body())
        return JSONResponse({"ok": True})

    async def moved(request: Request) -> Response:
        seen.append(request)
        return RedirectResponse("/ok", status_code=307)

    async def unstable(request: Request) -> Response:
        seen.append(request)
        flaky["left"] -= 1
        return JSONResponse({}, status_code=503 if flaky["left"] >= 0 else 200)

    app = Starlette(
        routes=[
            Route("/ok", ok, methods=["POST"]),
            Route("/moved", moved, methods=["POST"]),
            Route("/unstable", unstable, methods=["POST"]),
        ]
    )
    with serve(app) as base:
        yield base, seen, bodies


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")


def _cfg(url: str, **kw: object) -> ReviewCallback:
    return ReviewCallback.model_validate({"url": url, "secret_env": SECRET_ENV, **kw})


ALLOW = {"fetch": {"allow_networks": ["127.0.0.0/8"]}}
sender = CallbackSender(sleep=lambda s: None)


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"a":1}'
    now = int(time.time())
    header = sign(b"k", now, body)
    assert verify(b"k", header, body)
    assert not verify(b"other", header, body)
    assert not verify(b"k", header, b'{"a":2}')
    assert not verify(b"k", sign(b"k", now - 3600, body), body)  # stale: a replay
    assert not verify(b"k", "garbage", body)


def test_loopback_is_refused_by_default_and_sent_when_allowed(receiver) -> None:
    base, seen, bodies = receiver
    before = len(seen)
    refused = sender.send(_cfg(base + "/ok"), PAYLOAD)
    assert not refused.delivered and refused.error == "refused by the callback fetch policy"
    assert len(seen) == before  # nothing reached the receiver
    sent = sender.send(_cfg(base + "/ok", **ALLOW), PAYLOAD)
    assert sent.delivered and sent.status == 200 and sent.attempts == 1
    request = seen[-1]
    assert request.headers["x-lockgate-review-id"] == PAYLOAD["review"]["id"]
    assert verify(b"s3cret", request.headers[SIGNATURE_HEADER], bodies[-1])


def test_no_secret_no_callback(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    base, seen, _ = receiver
    monkeypatch.delenv(SECRET_ENV)
    before = len(seen)
    out = sender.send(_cfg(base + "/ok", **ALLOW), PAYLOAD)
    assert not out.delivered and SECRET_ENV in (out.error or "") and len(seen) == before


def test_redirects_are_not_followed_and_failures_are_retried(receiver) -> None:
    base, seen, _ = receiver
    before = len(seen)
    moved = sender.send(_cfg(base + "/moved", **ALLOW), PAYLOAD)
    assert not moved.delivered and moved.status == 307 and len(seen) == before + 1
    flaky = sender.send(_cfg(base + "/unstable", attempts=5, **ALLOW), PAYLOAD)
    assert flaky.delivered and flaky.attempts == 3


def test_a_callback_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        ReviewCallback(url="file:///etc/passwd")
