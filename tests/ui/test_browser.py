"""The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium; nothing is downloaded): every page loads with seeded data and without
console errors (a CSP violation is one), a review decision made in the browser lands in the
store, a reviewer gets the 403 page for admin pages. Screenshots of every page are kept
under test-artifacts/ui/ at the repository root."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.store.reviews import ReviewRecord, new_review_id
from tests.ui.conftest import TENANT, World

CHROMIUM = os.environ.get("LOCKGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LOCKGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    pytest.skip(
        f"BROWSER TESTS SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing "
        "(apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PAGES = [
    ("overview", "/ui/overview?window=24h"),
    ("traces", "/ui/traces"),
    ("trace", None),  # filled in with the seeded trace
    ("reviews", "/ui/reviews?status=all"),
    ("documents", "/ui/documents"),
    ("document", None),
    ("prompts", "/ui/prompts"),
    ("prompt", "/ui/prompts/grounded_answer"),
    ("releases", "/ui/releases"),
    ("evals", "/ui/evals"),
    ("eval-compare", None),
    ("drift", "/ui/drift"),
    ("costs", "/ui/costs?users=1000&growth=10x"),
    ("alerts", "/ui/alerts"),
    ("readiness", "/ui/readiness"),
    ("audit", "/ui/audit?verify=1"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1400,2000", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(10)  # an element of a page still loading after a form post
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _login(driver: Any, world: World, role: str) -> None:
    driver.delete_all_cookies()
    driver.get(world.base + "/ui/login")
    driver.find_element(By.ID, "credential").send_keys(world.keys[role])
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 30).until(lambda d: "/ui/login" not in d.current_url)


def _loaded(driver: Any) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _submit(driver: Any, button_id: str) -> None:
    """Click a form's button and wait for the page it leads to. The page before must have
    finished loading first: an element found while the previous navigation was still
    replacing the document belongs to no document by the time it is clicked."""
    for attempt in range(3):
        _loaded(driver)
        try:
            old = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.ID, button_id).click()
            break
        except WebDriverException:
            if attempt == 2:
                raise
    WebDriverWait(driver, 30).until(lambda _: _replaced(old))
    _loaded(driver)


def _replaced(element: Any) -> bool:
    """The element's document is gone. Chromium answers a node of a replaced document with
    either a stale-element error or "does not belong to the document": both mean gone."""
    try:
        element.tag_name  # noqa: B018 - any call on the node asks the browser about it
    except WebDriverException:
        return True
    return False


def _shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_every_page_loads_without_console_errors(browser: Any, world: World) -> None:
    browser.get(world.base + "/ui/login")
    _shot(browser, "00-login")
    _login(browser, world, "admin")
    base, cand = world.experiments
    seen = []
    for i, (name, path) in enumerate(PAGES, start=1):
        if name == "trace":
            path = f"/ui/traces/{world.trace_id}"
        elif name == "document":
            [doc] = [d for d in world.services.documents.list_documents()
                     if d["source"].endswith(".md")]
            path = f"/ui/documents/{doc['id']}"
        elif name == "eval-compare":
            path = f"/ui/evals/compare?baseline={base}&candidate={cand}"
        browser.get(world.base + path)
        assert browser.find_element(By.TAG_NAME, "h1").text, name
        assert "Error" not in browser.title, (name, browser.page_source[:500])
        _shot(browser, f"{i:02d}-{name}")
        seen.append((name, _console_errors(browser)))
    assert [(n, errs) for n, errs in seen if errs] == []
    # Seeded data reached the pages (checked in the browser's own rendering).
    browser.get(world.base + f"/ui/traces/{world.trace_id}")
    assert "FINAL-OUTPUT" in browser.find_element(By.ID, "final-output").text
    assert browser.find_elements(By.CSS_SELECTOR, "#waterfall rect")


def test_a_review_decision_in_the_browser_lands_in_the_store(
    browser: Any, world: World
) -> None:
    services = world.services
    edited = services.reviews.submit(
        ReviewRecord(
            id=new_review_id(), tenant=TENANT, principal="dave", kind="groundedness",
            mode="hold", trace_id=None, reasons=[{"kind": "groundedness"}],
            question="Is shipping free?", answer="Shipping is always free.",
        )
    )
    _login(browser, world, "reviewer")
    browser.get(world.base + f"/ui/reviews/{world.review_id}")
    _submit(browser, "claim")
    assert "claim" in browser.find_element(By.ID, "done").text
    _shot(browser, "20-review-claimed")
    _submit(browser, "approve")
    assert browser.find_element(By.ID, "review-status").text == "approved"
    _shot(browser, "21-review-approved")
    assert services.review_store.get(world.review_id, TENANT).status == "approved"

    browser.get(world.base + f"/ui/reviews/{edited.id}")
    box = browser.find_element(By.ID, "edit-text")
    box.clear()
    box.send_keys("Shipping is free above 50 EUR.")
    _submit(browser, "edit")
    assert browser.find_element(By.ID, "review-status").text == "edited"
    _shot(browser, "22-review-edited")
    rec = services.review_store.get(edited.id, TENANT)
    assert rec.status == "edited" and rec.final_answer == "Shipping is free above 50 EUR."
    assert _console_errors(browser) == []


def test_a_reviewer_cannot_open_the_admin_pages(browser: Any, world: World) -> None:
    _login(browser, world, "reviewer")
    nav = browser.find_element(By.TAG_NAME, "nav").text
    assert "Review" in nav and "Audit log" not in nav and "Documents" not in nav
    for name in ("audit", "documents", "costs"):
        browser.get(world.base + f"/ui/{name}")
        assert browser.title.startswith("Error 403"), browser.title
        assert "scope" in browser.find_element(By.ID, "error-message").text
        _shot(browser, f"30-reviewer-403-{name}")
