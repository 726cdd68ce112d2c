"""Headless Chromium through the admin's two-factor flow, with ADMIN_REQUIRE_MFA on: a staff member without MFA is sent
to the enrolment page, enrols with a code computed here, logs out, and logs in again with password and a fresh code.
Every page is checked for console errors, failed requests and CSP violations."""

from __future__ import annotations

import re

import pytest

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tests.mfa import fresh_code
from core.tests.browser import artifacts_dir, assert_clean, open_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def staff(chromium_browser, settings):
    settings.ADMIN_REQUIRE_MFA = True
    return UserFactory(is_staff=True, is_superuser=True, email="mfa-staff@example.com")


def submit(page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def password_login(page, live_server, email: str, code: str | None = None) -> None:
    open_page(page, f"{live_server.url}/admin/login/", "admin login page")
    page.fill("#id_username", email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    if code is not None:
        page.fill("#id_otp_token", code)
    submit(page, "#login-form input[type=submit]")


def test_staff_enrol_log_out_and_log_in_with_a_code(page, live_server, staff):
    password_login(page, live_server, staff.email)
    assert page.url == f"{live_server.url}/admin/mfa/enrol/", page.url
    assert_clean(page, "enrolment page")
    qr = page.locator("figure.mfa-qr-code svg.mfa-qr")
    assert qr.count() == 1
    assert qr.bounding_box()["width"] > 100
    secret = page.locator("#mfa-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.screenshot(path=str(artifacts_dir() / "admin-mfa-enrol.png"), full_page=True)

    # Any other admin page leads back here until enrolment is done.
    page.goto(f"{live_server.url}/admin/accounts/user/", wait_until="load")
    assert page.url == f"{live_server.url}/admin/mfa/enrol/"

    page.fill("#id_code", fresh_code(staff, confirmed=False))
    submit(page, "#mfa-enrol-form input[type=submit]")
    assert_clean(page, "recovery codes page")
    codes = page.locator(".mfa-recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=str(artifacts_dir() / "admin-mfa-recovery-codes.png"), full_page=True)
    submit(page, "#mfa-continue")
    assert page.url == f"{live_server.url}/admin/"
    assert_clean(page, "admin index after enrolment")

    submit(page, "#logout-form button[type=submit]")
    assert_clean(page, "logged out page")

    # Password alone is not enough any more.
    password_login(page, live_server, staff.email)
    assert page.url.startswith(f"{live_server.url}/admin/login/")
    assert "Enter the code" in page.locator(".errornote").inner_text()

    password_login(page, live_server, staff.email, code=fresh_code(staff, confirmed=True))
    assert page.url == f"{live_server.url}/admin/", page.url
    assert_clean(page, "admin index after a login with a code")
    open_page(page, f"{live_server.url}/admin/accounts/user/", "user list")
