"""Shared fixtures: API clients with real tokens, cache isolation, service gates, headless Chromium."""

from __future__ import annotations

import logging
import os
import shutil
import socket

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services.tokens import token_pair_issue
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_addoption(parser):
    parser.addoption(
        "--require-services",
        action="store_true",
        default=os.environ.get("REQUIRE_SERVICES") == "1",
        help="Fail, instead of skipping, tests whose service (Chromium, Redis, PostgreSQL) is missing.",
    )


MISSING_SERVICE = pytest.StashKey[str]()


def pytest_runtest_setup(item):
    missing = item.stash.get(MISSING_SERVICE, None)
    if missing:
        pytest.fail(missing)


def _postgres_reachable() -> bool:
    """Whether a PostgreSQL server answers where the project would find one (``POSTGRES_HOST``/``PORT``)."""
    return port_open(os.environ.get("POSTGRES_HOST", "127.0.0.1"), int(os.environ.get("POSTGRES_PORT", "5432")))


def pytest_collection_modifyitems(config, items):
    """Database-specific tests are skipped, with the reason, on the other database (never silently deselected).

    A ``postgres_only`` test on SQLite is a skip while the machine has PostgreSQL (the PostgreSQL run covers it); on a
    machine without PostgreSQL it is a missing service, which ``--require-services`` turns into a failure.
    """
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    require = config.getoption("--require-services")
    postgres_missing = None
    for item in items:
        if item.get_closest_marker("postgres_only") and not on_postgres:
            if postgres_missing is None:
                postgres_missing = not _postgres_reachable()
            if postgres_missing and require:
                item.stash[MISSING_SERVICE] = "PostgreSQL is not available on this machine (--require-services is set)"
            else:
                reason = "needs PostgreSQL" + (
                    " (not available on this machine)" if postgres_missing else "; this run's database is SQLite"
                )
                item.add_marker(pytest.mark.skip(reason=reason))
        elif item.get_closest_marker("sqlite_only") and on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs SQLite; this run's database is PostgreSQL"))


@pytest.fixture
def require_service(request):
    """Call with (name, available): skips when missing, or fails under --require-services (CI)."""

    def check(name: str, available: bool) -> None:
        if available:
            return
        message = f"{name} is not available on this machine"
        if request.config.getoption("--require-services"):
            pytest.fail(f"{message} (--require-services is set)")
        pytest.skip(message)

    return check


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated_cache():
    from accounts.authz import local_profiles_clear

    cache.clear()
    local_profiles_clear()
    yield
    cache.clear()


class AuditLog:
    """The records of the ``dashboard.audit`` logger captured during a test."""

    def __init__(self, caplog):
        self._caplog = caplog

    @property
    def text(self) -> str:
        return self._caplog.text

    def events(self, event: str) -> list[logging.LogRecord]:
        return [record for record in self._caplog.records if getattr(record, "event", None) == event]

    def clear(self) -> None:
        self._caplog.clear()


@pytest.fixture
def audit_log(caplog) -> AuditLog:
    caplog.set_level(logging.INFO, logger="dashboard.audit")
    return AuditLog(caplog)


@pytest.fixture
def superuser(db):
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """Build an APIClient authenticated as a user with a real access token."""

    def make(user) -> APIClient:
        client = APIClient()
        tokens = token_pair_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        return client

    return make


@pytest.fixture
def request_password_reset(django_capture_on_commit_callbacks):
    """POST ``auth/password-reset`` as *client*, then wait for the mail the response did not wait for (it is sent
    after commit, in a thread)."""
    from accounts.outbox import mail_threads_join

    def post(client: APIClient, email: str):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/auth/password-reset", {"email": email}, format="json")
        mail_threads_join()
        return response

    return post


@pytest.fixture
def user_client(user, client_for) -> APIClient:
    return client_for(user)


@pytest.fixture(scope="module")
def chromium_browser(request):
    """A headless Debian Chromium driven by Playwright; skipped (or failed in CI) when either is missing.

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread, during which Django refuses
    ORM calls unless DJANGO_ALLOW_ASYNC_UNSAFE is set; that switch is on only while the browser lives.
    """
    available = shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)
    if not available:
        message = f"Chromium not found at {CHROMIUM}"
        if request.config.getoption("--require-services"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def seeded_roles_restore() -> None:
    """Replay the data migrations (idempotent, as every data migration here must be) when the seeded roles are gone.

    A transactional test ends with a flush that empties every table, data migrations' rows included; later
    transactional tests would otherwise find no seeded roles. The functions run against the final migration state.
    """
    from types import SimpleNamespace
    from typing import cast

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations import RunPython

    if Group.objects.filter(name="viewer").exists():
        return
    executor = MigrationExecutor(connection)
    state_apps = executor.loader.project_state().apps
    # A stand-in: the data migrations use only the schema editor's connection.
    schema_editor = cast(BaseDatabaseSchemaEditor, SimpleNamespace(connection=connection))
    for migration, _backwards in executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True):
        for operation in migration.operations:
            if isinstance(operation, RunPython):
                operation.code(state_apps, schema_editor)


@pytest.fixture
def user_with_role(db):
    """Create a user holding the seeded role(s) named, e.g. ``user_with_role("analyst")``."""
    from django.contrib.auth.models import Group

    seeded_roles_restore()

    def make(*roles: str, **fields):
        user = UserFactory(**fields)
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


@pytest.fixture
def staff(user_with_role):
    """Create a staff member (who may log into the admin) holding the seeded role(s) named."""

    def make(*roles: str, **fields):
        return user_with_role(*roles, is_staff=True, **fields)

    return make


@pytest.fixture
def page(chromium_browser):
    """A fresh headless Chromium page that records CSP violations, console errors and failed requests."""
    from core.tests.browser import checked_pages

    yield from checked_pages(chromium_browser)
