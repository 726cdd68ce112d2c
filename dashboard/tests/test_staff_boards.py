"""Board pages in the admin (Django test client): the index entry, the list of visible boards, a board's page with
the board data's numbers, its layout stylesheet, and 404/403 for boards or numbers one may not see."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from dashboard.boards.models import Panel
from dashboard.staff.formatting import format_number
from dashboard.tests.factories import BoardFactory, KPIFactory, MetricFactory, board_with_three_panels

pytestmark = pytest.mark.django_db

BOARDS = "/admin/dashboard/board/"


def page_url(board) -> str:
    return f"/admin/dashboard/board/{board.pk}/page/"


@pytest.fixture
def staff(user_with_role):
    def make(*roles):
        return user_with_role(*roles, is_staff=True)

    return make


def _board(owner, **fields):
    board = BoardFactory(owner=owner, **fields)
    kpi = KPIFactory(name="Revenue", metric_name="revenue", unit="€")
    board_with_three_panels(board, kpi, titles=("Revenue KPI", "Revenue by day", "Everything"), height=4)
    return board, kpi


def test_index_lists_boards_and_the_list_shows_only_visible_ones(staff, client):
    manager = staff("manager")
    viewer = staff("viewer")
    shared = BoardFactory(owner=manager, name="Team board", shared_with=["viewer"])
    BoardFactory(owner=manager, name="Private board")
    client.force_login(viewer)
    index = client.get("/admin/").content.decode()
    assert 'id="staff-boards-link"' in index
    listing = client.get(BOARDS)
    assert listing.status_code == HTTPStatus.OK
    text = listing.content.decode()
    assert "Team board" in text
    assert "Private board" not in text
    assert page_url(shared) in text


def test_board_page_shows_the_board_data(staff, client, client_for):
    manager = staff("manager")
    MetricFactory(owner=manager, name="revenue", value=1234.5, timestamp=timezone.now())
    board, _ = _board(manager)
    client.force_login(manager)
    response = client.get(page_url(board), {"tz": "Europe/Berlin"})
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    for panel in board.panels.all():
        assert f'id="panel-{panel.pk}"' in html
        assert f'id="panel-{panel.pk}-title"' in html
    data = client_for(manager).get(f"/api/v1/dashboard/boards/{board.pk}/data", {"tz": "Europe/Berlin"}).json()
    current = data["panels"][0]["summary"]["current"]["value"]
    assert format_number(current, "€") in html
    assert f'data-value="{current!r}"' in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" id="panel-') == 2  # the KPI card and the series
    assert "<script" not in html.split('id="content-main"')[1]
    css = client.get(f"/admin/dashboard/board/{board.pk}/layout.css")
    assert css["Content-Type"].startswith("text/css")
    first = board.panels.first()
    assert f"#panel-{first.pk}{{grid-column:1 / span 4;grid-row:1 / span 4}}" in css.content.decode()


def test_other_boards_are_404_and_missing_permissions_403(staff, client):
    manager, analyst = staff("manager"), staff("analyst")
    board, _ = _board(manager)
    client.force_login(analyst)
    assert client.get(page_url(board)).status_code == HTTPStatus.NOT_FOUND
    assert client.get(f"/admin/dashboard/board/{board.pk}/layout.css").status_code == HTTPStatus.NOT_FOUND
    board.shared_with.add(*analyst.groups.all())
    assert client.get(page_url(board)).status_code == HTTPStatus.OK
    # user_admin holds no dashboard permission at all.
    admin = staff("user_admin")
    client.force_login(admin)
    assert client.get(BOARDS).status_code == HTTPStatus.FORBIDDEN


def test_a_panel_over_the_point_limit_says_so_and_the_others_still_show(staff, client, settings):
    settings.SERIES_MAX_POINTS = 24
    manager = staff("manager")
    now = timezone.now()
    for hours in (0, 30, 60):  # three days: 61 hours, three day buckets
        MetricFactory(owner=manager, name="revenue", value=1234.5, timestamp=now - timedelta(hours=hours))
    board = BoardFactory(owner=manager)
    Panel.objects.bulk_create(
        [
            Panel(board=board, position=n, type="series", metric_name="revenue", metric_bucket=bucket,
                  metric_agg="sum", title=title, x=0, y=n, w=12, h=2)
            for n, (bucket, title) in enumerate([("hour", "By hour"), ("day", "By day")])
        ]
    )  # fmt: skip
    client.force_login(manager)
    page = client.get(page_url(board)).content.decode()
    hourly, daily = page.split('<section class="board-panel ')[1:]
    assert "more than the limit of 24" in hourly
    assert "the finest bucket that fits is &#x27;day&#x27;" in hourly
    assert "<svg" not in hourly
    assert "<svg" in daily
    assert "more than the limit" not in daily
