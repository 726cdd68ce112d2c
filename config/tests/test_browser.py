"""Headless Chromium proves the admin and the API docs run under the CSP with no violations and no errors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
NAVIGATION_TIMEOUT_MS = 30_000

# Registered before any page script runs, so violations raised while the document is parsed are caught too.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.effectiveDirective || event.violatedDirective,
    blockedURI: event.blockedURI,
    sourceFile: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
});
"""


@dataclass
class PageProblems:
    """Everything a page complained about: console errors, uncaught exceptions, failed and refused requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)


def _artifacts_dir() -> Path:
    directory = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO_ROOT / "artifacts" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def page(chromium_browser):
    context = chromium_browser.new_context()
    context.set_default_timeout(NAVIGATION_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    problems = PageProblems()
    page.on(
        "console",
        lambda message: (
            problems.console_errors.append(f"{message.text} ({message.location.get('url', '?')})")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            problems.failed_responses.append(f"{response.status} {response.request.method} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.on(
        "requestfailed",
        lambda request: problems.failed_requests.append(f"{request.failure} {request.method} {request.url}"),
    )
    page.problems = problems
    yield page
    context.close()


def _settle(page) -> None:
    """Wait until the page and everything it fetches (scripts, styles, icons, the schema) have finished."""
    page.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")


def _assert_clean(page, where: str) -> None:
    _settle(page)
    violations = page.evaluate("window.__cspViolations || []")
    problems: PageProblems = page.problems
    report = {
        "CSP violations": violations,
        "console errors": problems.console_errors,
        "uncaught page errors": problems.page_errors,
        "responses with status >= 400": problems.failed_responses,
        "failed requests": problems.failed_requests,
    }
    found = {name: items for name, items in report.items() if items}
    assert not found, f"{where} ({page.url}) is not clean:\n{json.dumps(found, indent=2)}"


def _assert_favicon(page, where: str) -> None:
    """The page names its icon, and the icon loads (no browser falls back to a missing /favicon.ico)."""
    icons = page.locator("link[rel~=icon]").evaluate_all("links => links.map((link) => link.href)")
    assert icons, f"{where} declares no <link rel=icon>"
    for href in icons:
        response = page.request.get(href)
        assert response.ok, f"{where}: favicon {href} answered {response.status}"


def _open(page, url: str, where: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None, f"{where}: no response for {url}"
    assert response.ok, f"{where}: {url} answered {response.status}"
    _assert_clean(page, where)
    _assert_favicon(page, where)


def _login(page, live_server, email: str) -> None:
    _open(page, f"{live_server.url}/admin/login/", "admin login page")
    page.fill("#id_username", email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.click("input[type=submit]")
    assert page.url == f"{live_server.url}/admin/", f"login did not reach the admin index, landed on {page.url}"


def test_admin_login_page_has_no_csp_violations_or_errors(live_server, page):
    _open(page, f"{live_server.url}/admin/login/", "admin login page")
    assert page.locator("#id_username").is_visible()
    assert page.locator("#id_password").is_visible()
    legacy_icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert legacy_icon.ok, f"/favicon.ico answered {legacy_icon.status} (after redirects)"


def test_admin_pages_as_superuser_have_no_csp_violations_or_errors(live_server, page):
    admin = UserFactory(is_staff=True, is_superuser=True)
    _login(page, live_server, admin.email)
    _assert_clean(page, "admin index")
    _assert_favicon(page, "admin index")
    assert page.locator("#site-name").is_visible()
    assert page.locator("#content-main").is_visible()
    page.screenshot(path=str(_artifacts_dir() / "admin_index.png"), full_page=True)

    _open(page, f"{live_server.url}/admin/accounts/user/", "admin user changelist")
    assert page.locator("#result_list").is_visible()
    assert page.locator("#result_list").get_by_text(admin.email).count() == 1

    _open(page, f"{live_server.url}/admin/accounts/user/add/", "admin user add page")
    assert page.locator("#content-main form").is_visible()


def test_api_docs_render_swagger_ui_with_no_csp_violations_or_errors(live_server, page):
    response = page.goto(f"{live_server.url}/api/docs/", wait_until="load")
    assert response is not None
    assert response.ok, f"/api/docs/ answered {response.status}"
    page.locator(".swagger-ui .info .title").wait_for(state="visible")
    page.locator(".swagger-ui .opblock").first.wait_for(state="visible")
    _assert_clean(page, "API docs (Swagger UI)")
    _assert_favicon(page, "API docs (Swagger UI)")
    assert "API" in page.locator(".swagger-ui .info .title").inner_text()
    page.screenshot(path=str(_artifacts_dir() / "api_docs.png"), full_page=True)
