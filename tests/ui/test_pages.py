"""The dashboard over real HTTP (no browser): login and its cookie, CSRF, pages by role, the
browser's refusals as pages and the API's as JSON, sessions ending with their key."""

from __future__ import annotations

import httpx
import pytest

from lockgate.ui.edge import CSP
from lockgate.ui.session import COOKIE
from tests.ui.conftest import FINDING_DETAIL, World, csrf_of

# Every page a logged-in admin opens, with a text its seeded data puts there.
ADMIN_PAGES = [
    ("/ui/overview", "Requests per second"),
    ("/ui/overview?window=1h", "p50/p95/p99"),
    ("/ui/traces", "carol"),
    ("/ui/traces?text=carol&guard_action=flag", "carol"),
    ("/ui/reviews", "How long is the refund window?"),
    ("/ui/documents", "broken.pdf"),
    ("/ui/prompts", "grounded_answer"),
    ("/ui/prompts/grounded_answer", "staging"),
    ("/ui/releases", "spring"),
    ("/ui/evals", "candidate-run"),
    ("/ui/drift", "Drift"),
    ("/ui/costs", "per 1,000"),
    ("/ui/alerts", "not configured"),
    ("/ui/costs?users=1000&growth=10x", "id=\"projection\""),
    ("/ui/readiness", "lockgate readiness"),
    ("/ui/audit", "auth.succeeded"),
]


def test_login_sets_a_sealed_strict_httponly_cookie(world: World) -> None:
    c = world.login("admin")
    cookie = next(x for x in c.cookies.jar if x.name == COOKIE)
    assert cookie.path == "/ui" and not cookie.secure  # plain HTTP on loopback
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
    # Sealed: neither the key nor the principal's name can be read from it.
    assert world.keys["admin"] not in (cookie.value or "")
    assert "admin-key" not in (cookie.value or "")
    home = c.get("/ui")
    assert home.status_code == 303 and home.headers["location"] == "/ui/overview"


@pytest.mark.parametrize(("path", "text"), ADMIN_PAGES)
def test_each_page_renders_its_data_for_an_admin(world: World, path: str, text: str) -> None:
    c = world.login("admin")
    resp = c.get(path)
    assert resp.status_code == 200, resp.text[:500]
    assert text in resp.text, path
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["x-frame-options"] == "DENY"
    assert "<script" not in resp.text and "style=" not in resp.text


def test_the_trace_page_shows_what_was_recorded(world: World) -> None:
    c = world.login("analyst")
    html = c.get(f"/ui/traces/{world.trace_id}").text
    for text in ("grounded_answer v2", "RAW-OUTPUT", "FINAL-OUTPUT", FINDING_DETAIL,
                 "short question", "id=\"waterfall\"", "policy.md", "Refunds are accepted"):
        assert text in html, text
    assert c.get(f"/ui/traces/{world.chat_trace}").status_code == 200
    assert c.get("/ui/traces/nope").status_code == 404


def test_a_documents_versions(world: World) -> None:
    c = world.login("admin")
    [doc] = [d for d in world.services.documents.list_documents() if d["source"].endswith(".md")]
    html = c.get(f"/ui/documents/{doc['id']}").text
    assert "v1" in html and doc["content_hash"][:16] in html and "markdown" in html
    assert c.get("/ui/documents/999999").status_code == 404
    assert c.get("/ui/documents/abc").status_code == 404


def test_a_comparison_of_two_runs(world: World) -> None:
    c = world.login("developer")
    base, cand = world.experiments
    html = c.get(f"/ui/evals/compare?baseline={base}&candidate={cand}").text
    assert "Fixed: c2" in html.replace("fixed", "Fixed") and "0.300" in html
    assert c.get("/ui/evals/compare?baseline=x&candidate=y").status_code == 404


def test_without_a_session_a_browser_is_sent_to_login(world: World) -> None:
    resp = world.client().get("/ui/traces?text=a")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/ui/login?next=%2Fui%2Ftraces%3Ftext%3Da"
    tampered = world.client()
    tampered.cookies.set(COOKIE, "AAAA" * 20, path="/ui")
    assert tampered.get("/ui/overview").status_code == 303


def test_a_reviewer_gets_a_403_page_for_admin_pages(world: World) -> None:
    c = world.login("reviewer")
    for path in ("/ui/audit", "/ui/documents", "/ui/costs", "/ui/overview"):
        resp = c.get(path)
        assert resp.status_code == 403, path
        assert resp.headers["content-type"].startswith("text/html")
        assert "insufficient" in resp.text or "scope" in resp.text
    assert c.get("/ui/reviews").status_code == 200
    nav = c.get("/ui/reviews").text
    assert "/ui/audit" not in nav and "/ui/reviews" in nav
    # The same page with a bearer key: the API's JSON refusal.
    bearer = {"Authorization": f"Bearer {world.keys['reviewer']}"}
    api = httpx.get(world.base + "/ui/audit", headers=bearer)
    assert api.status_code == 403 and api.json()["error"]["code"] == "insufficient_scope"


def test_posts_need_the_csrf_token(world: World) -> None:
    c = world.login("admin")
    resp = c.post("/ui/documents/retry", data={"source": "x"})
    assert resp.status_code == 403 and "CSRF" in resp.text
    resp = c.post("/ui/documents/retry", data={"source": "x", "csrf": "0" * 48})
    assert resp.status_code == 403
    token = csrf_of(c.get("/ui/documents").text)
    resp = c.post("/ui/documents/retry", data={"source": "nothing-here", "csrf": token})
    assert resp.status_code == 303 and resp.headers["location"].startswith("/ui/documents?done=")


def test_a_login_form_without_its_cookie_is_refused(world: World) -> None:
    c = world.client()
    token = csrf_of(c.get("/ui/login").text)
    fresh = world.client()  # another browser: no login cookie to match the token
    resp = fresh.post("/ui/login", data={"credential": world.keys["admin"], "csrf": token})
    assert resp.status_code == 403 and f"{COOKIE}=" not in resp.headers.get("set-cookie", "")


def test_a_bad_key_is_refused_on_the_page(world: World) -> None:
    c = world.client()
    token = csrf_of(c.get("/ui/login").text)
    resp = c.post("/ui/login", data={"credential": "lg_abcdefgh_wrong", "csrf": token})
    assert resp.status_code == 401 and "Login refused" in resp.text
    assert f"{COOKIE}=" not in resp.headers.get("set-cookie", "")


def test_the_session_cookie_does_not_open_the_api(world: World) -> None:
    c = world.login("admin")
    cookie = c.cookies.get(COOKIE)
    resp = httpx.get(world.base + "/v1/traces", cookies={COOKIE: cookie or ""})
    assert resp.status_code == 401


def test_a_revoked_key_ends_its_sessions(world: World) -> None:
    record, key = world.services.api_keys.create("short-lived", "acme", ["analyst"])
    world.keys["short-lived"] = key
    c = world.login("short-lived")
    assert c.get("/ui/traces").status_code == 200
    world.services.api_keys.revoke(record.id)
    assert c.get("/ui/traces").status_code == 303


def test_logout_ends_the_session(world: World) -> None:
    c = world.login("analyst")
    page = c.get("/ui/traces")
    resp = c.post("/ui/logout", data={"csrf": csrf_of(page.text)})
    assert resp.status_code == 303
    assert c.get("/ui/traces").status_code == 303


def test_bad_query_values_are_400_pages(world: World) -> None:
    c = world.login("admin")
    resp = c.get("/ui/overview?window=forever")
    assert resp.status_code == 400 and "window" in resp.text
    assert c.get("/ui/traces?min_latency_ms=fast").status_code == 400
    assert c.get("/ui/reviews?status=weird").status_code == 400


def test_a_rejection_through_the_forms_lands_in_the_store(world: World) -> None:
    from lockgate.store.reviews import ReviewRecord, new_review_id

    rec = world.services.reviews.submit(
        ReviewRecord(
            id=new_review_id(), tenant="acme", principal="erin", kind="groundedness",
            mode="hold", trace_id=None, reasons=[{"kind": "groundedness"}],
            question="Can I pay by cheque?", answer="Cheques are welcome.",
        )
    )
    c = world.login("reviewer")
    here = f"/ui/reviews/{rec.id}"
    token = csrf_of(c.get(here).text)
    resp = c.post(f"{here}/reject", data={"csrf": token, "note": "not in the sources"})
    assert resp.status_code == 303 and resp.headers["location"] == f"{here}?done=reject"
    stored = world.services.review_store.get(rec.id, "acme")
    assert stored is not None and stored.status == "rejected"
    assert stored.note == "not in the sources"
    # Deciding again is refused by the queue, and the page says why.
    again = c.post(f"{here}/approve", data={"csrf": token})
    assert again.status_code == 303 and "error=" in again.headers["location"]
    assert "review-error" in c.get(again.headers["location"]).text
    assert c.post(f"{here}/destroy", data={"csrf": token}).status_code == 404
