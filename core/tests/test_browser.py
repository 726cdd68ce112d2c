"""Headless Chromium proves the admin and the API docs run under the CSP with no violations and no errors."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from core.tests.browser import artifacts_dir, assert_clean, assert_favicon, login, open_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_admin_login_page_has_no_csp_violations_or_errors(live_server, page):
    open_page(page, f"{live_server.url}/admin/login/", "admin login page")
    assert page.locator("#id_username").is_visible()
    assert page.locator("#id_password").is_visible()
    legacy_icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert legacy_icon.ok, f"/favicon.ico answered {legacy_icon.status} (after redirects)"


def test_admin_pages_as_superuser_have_no_csp_violations_or_errors(live_server, page):
    admin = UserFactory(is_staff=True, is_superuser=True)
    login(page, live_server, admin.email)
    assert_clean(page, "admin index")
    assert_favicon(page, "admin index")
    assert page.locator("#site-name").is_visible()
    assert page.locator("#content-main").is_visible()
    page.screenshot(path=str(artifacts_dir() / "admin_index.png"), full_page=True)

    open_page(page, f"{live_server.url}/admin/accounts/user/", "admin user changelist")
    assert page.locator("#result_list").is_visible()
    assert page.locator("#result_list").get_by_text(admin.email).count() == 1

    open_page(page, f"{live_server.url}/admin/accounts/user/add/", "admin user add page")
    assert page.locator("#content-main form").is_visible()


def test_api_docs_render_swagger_ui_with_no_csp_violations_or_errors(live_server, page):
    response = page.goto(f"{live_server.url}/api/docs/", wait_until="load")
    assert response is not None
    assert response.ok, f"/api/docs/ answered {response.status}"
    page.locator(".swagger-ui .info .title").wait_for(state="visible")
    page.locator(".swagger-ui .opblock").first.wait_for(state="visible")
    assert_clean(page, "API docs (Swagger UI)")
    assert_favicon(page, "API docs (Swagger UI)")
    assert "API" in page.locator(".swagger-ui .info .title").inner_text()
    page.screenshot(path=str(artifacts_dir() / "api_docs.png"), full_page=True)
