"""Headless Chromium through a board's staff page: a KPI, a series and a summary panel on the grid with no console
error, failed request or CSP violation, and an analyst on a manager's shared board sees only its own numbers."""

from __future__ import annotations

import os
from datetime import timedelta
from importlib import import_module

import pytest
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserWithRolesFactory
from core.tests.browser import REPO_ROOT, artifacts_dir, assert_clean, login, open_page
from dashboard.staff.formatting import format_number
from dashboard.tests.factories import BoardFactory, KPIFactory, MetricFactory, board_with_three_panels

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# As in test_staff_browser: a transactional test's flush removes the seeded roles, so they are made again here with
# the grants of the data migrations.
ROLE_GRANTS = import_module("dashboard.migrations.0002_grant_role_permissions").GRANTS
BOARD_GRANTS = import_module("dashboard.migrations.0011_grant_board_permissions").GRANTS
MANAGERS_VALUE = 424_242.0


@pytest.fixture
def world(chromium_browser):
    for role in ("analyst", "manager"):
        codenames = [*ROLE_GRANTS[role], *BOARD_GRANTS[role]]
        RoleFactory(name=role, permissions=[f"dashboard.{codename}" for codename in codenames])
    manager = UserWithRolesFactory(roles=["manager"], is_staff=True)
    analyst = UserWithRolesFactory(roles=["analyst"], is_staff=True)
    now = timezone.now()
    for day in range(20):
        moment = now - timedelta(days=day, hours=2)
        MetricFactory(owner=analyst, name="revenue", value=100.0 + day, timestamp=moment)
        MetricFactory(owner=manager, name="revenue", value=MANAGERS_VALUE, timestamp=moment)
        MetricFactory(owner=analyst, name="signups", value=float(day % 7), timestamp=moment)
    revenue = KPIFactory(name="Revenue", metric_name="revenue", period="week", target=1500.0, unit="€")
    KPIFactory(name="Signups", metric_name="signups", period="month", aggregation="sum", target=50.0)
    board = BoardFactory(owner=manager, name="Sales", description="Revenue and signups, week by week.")
    board.shared_with.set(analyst.groups.all())
    board_with_three_panels(board, revenue, titles=("Revenue this week", "Revenue by day", "Every KPI"), height=5)
    return {"manager": manager, "analyst": analyst, "board": board}


def _assert_panels_match_api(page, user, board, client_for) -> None:
    data = client_for(user).get(f"/api/v1/dashboard/boards/{board.pk}/data").json()
    kpi_panel, series_panel, summary_panel = data["panels"]
    card = page.locator(f"#panel-{kpi_panel['id']} .kpi-value")
    assert card.get_attribute("data-value") == repr(kpi_panel["summary"]["current"]["value"])
    assert card.inner_text() == format_number(kpi_panel["summary"]["current"]["value"], "€")
    kpi_marks = page.locator(f"#panel-{kpi_panel['id']} svg.chart circle.point")
    assert kpi_marks.evaluate_all("cs => cs.map(c => Number(c.dataset.value))") == [
        point["value"] for point in kpi_panel["series"]["points"]
    ]
    series_marks = page.locator(f"#panel-{series_panel['id']} svg.chart circle.point")
    assert series_marks.evaluate_all("cs => cs.map(c => Number(c.dataset.value))") == [
        point["value"] for point in series_panel["series"]["points"]
    ]
    assert len(series_panel["series"]["points"]) >= 20
    # Numbers as text: the chart's table for screen readers, the summary's table.
    rows = page.locator(f"#panel-{series_panel['id']} table.visually-hidden tbody tr")
    assert rows.count() == len(series_panel["series"]["points"])
    cells = page.locator(f"#panel-{summary_panel['id']} td.kpi-value-cell").evaluate_all(
        "cells => cells.map(c => c.dataset.value)"
    )
    assert cells == [repr(row["current"]["value"]) for row in summary_panel["summary"]]
    titles = page.locator(".board-panel-title").all_inner_texts()
    assert titles == ["Revenue this week", "Revenue by day", "Every KPI"]
    assert page.locator("svg.chart title").first.text_content()
    assert page.locator("svg.chart desc").count() == 2


def test_board_page_lays_out_kpi_series_and_summary_panels(live_server, page, world, client_for):
    manager, board = world["manager"], world["board"]
    login(page, live_server, manager.email)
    page.locator("#staff-boards-link").click()
    page.wait_for_load_state("load")
    assert_clean(page, "board list")
    page.get_by_role("link", name="Sales").click()
    page.wait_for_load_state("load")
    assert page.url == f"{live_server.url}/admin/dashboard/board/{board.pk}/page/"
    assert_clean(page, "board page")
    assert page.locator("script").count() == page.locator("script[src]").count()  # the admin's files only
    _assert_panels_match_api(page, manager, board, client_for)
    # Laid out on the grid: the series panel sits to the right of the KPI panel, the summary below both.
    kpi_box, series_box, summary_box = (page.locator(".board-panel").nth(n).bounding_box() for n in range(3))
    assert series_box["x"] > kpi_box["x"] + kpi_box["width"] - 1
    assert abs(series_box["y"] - kpi_box["y"]) < 1
    assert summary_box["y"] >= max(kpi_box["y"] + kpi_box["height"], series_box["y"] + series_box["height"]) - 1
    assert summary_box["width"] > series_box["width"]
    page.screenshot(path=str(artifacts_dir() / "staff_board.png"), full_page=True)
    # The README's picture: UPDATE_DOCS_SCREENSHOTS=1 pytest dashboard/tests/test_staff_boards_browser.py -k board_page
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        page.screenshot(path=str(REPO_ROOT / "docs" / "board.png"), full_page=True)


def test_analyst_sees_only_its_own_numbers_on_a_shared_board(live_server, page, world, client_for):
    analyst, board = world["analyst"], world["board"]
    login(page, live_server, analyst.email)
    open_page(page, f"{live_server.url}/admin/dashboard/board/{board.pk}/page/", "shared board as analyst")
    _assert_panels_match_api(page, analyst, board, client_for)
    content = page.content()
    for text in (str(int(MANAGERS_VALUE)), format_number(MANAGERS_VALUE)):
        assert text not in content
