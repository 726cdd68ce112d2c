"""Shared helpers of the browser tests: a page that records CSP violations, console errors and failed requests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from accounts.tests.factories import DEFAULT_PASSWORD

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


def artifacts_dir() -> Path:
    directory = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO_ROOT / "artifacts" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def checked_pages(chromium_browser):
    """Yield a page that records CSP violations, console errors and failed requests (``page.problems``)."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
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


def settle(page) -> None:
    """Wait until the page and everything it fetches (scripts, styles, icons, the schema) have finished."""
    page.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")


def assert_clean(page, where: str) -> None:
    settle(page)
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


def assert_favicon(page, where: str) -> None:
    """The page names its icon, and the icon loads (no browser falls back to a missing /favicon.ico)."""
    icons = page.locator("link[rel~=icon]").evaluate_all("links => links.map((link) => link.href)")
    assert icons, f"{where} declares no <link rel=icon>"
    for href in icons:
        response = page.request.get(href)
        assert response.ok, f"{where}: favicon {href} answered {response.status}"


def open_page(page, url: str, where: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None, f"{where}: no response for {url}"
    assert response.ok, f"{where}: {url} answered {response.status}"
    assert_clean(page, where)
    assert_favicon(page, where)


def login(page, live_server, email: str) -> None:
    open_page(page, f"{live_server.url}/admin/login/", "admin login page")
    page.fill("#id_username", email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.click("input[type=submit]")
    assert page.url == f"{live_server.url}/admin/", f"login did not reach the admin index, landed on {page.url}"
