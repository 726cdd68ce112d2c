"""Boards through HTTP: CRUD, grid rules, sharing by role, atomic panel replacement, every panel's data as its own
endpoint gives it (in a bounded number of queries), export and import."""

from __future__ import annotations

from datetime import datetime, timedelta
from http import HTTPStatus
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from dashboard.boards.models import Board, Panel
from dashboard.tests.factories import KPIFactory, MetricFactory
from dashboard.timeseries import RELATIVE_RANGES, relative_range

pytestmark = pytest.mark.django_db

URL = "/api/v1/dashboard/boards"
GRANTS = import_module("dashboard.migrations.0011_grant_board_permissions")
CONTRACT_FIELDS = {
    "id",
    "name",
    "slug",
    "description",
    "owner",
    "shared_with",
    "panels",
    "created_at",
    "updated_at",
}
PANEL_FIELDS = {"id", "title", "type", "kpi", "metric", "range", "x", "y", "w", "h"}


@pytest.fixture
def manager(user_with_role):
    return user_with_role("manager")


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


def series_panel(name="revenue", bucket="day", agg="sum", range_="last_30_days", **at) -> dict:
    geometry = {"x": 0, "y": 0, "w": 6, "h": 4, **at}
    return {
        "type": "series",
        "title": f"{name} {agg}",
        "metric": {"name": name, "bucket": bucket, "agg": agg},
        "range": range_,
        **geometry,
    }


def kpi_panel(kpi, range_=None, **at) -> dict:
    return {"type": "kpi", "title": kpi.name, "kpi": kpi.pk, "range": range_, "x": 0, "y": 0, "w": 4, "h": 3, **at}


def summary_panel(**at) -> dict:
    return {"type": "summary", "title": "All KPIs", "x": 0, "y": 0, "w": 12, "h": 2, **at}


def create(client, **body):
    return client.post(URL, {"name": "Sales", **body}, format="json")


def test_create_board_with_panels(manager, client_for):
    kpi = KPIFactory()
    panels = [series_panel(), kpi_panel(kpi, x=6), summary_panel(y=4)]
    response = create(client_for(manager), description="Weekly", shared_with=["viewer"], panels=panels)
    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    assert set(body) == CONTRACT_FIELDS
    assert body["slug"] == "sales"
    assert body["owner"] == manager.pk
    assert body["shared_with"] == ["viewer"]
    assert [set(panel) for panel in body["panels"]] == [PANEL_FIELDS] * 3
    assert [panel["type"] for panel in body["panels"]] == ["series", "kpi", "summary"]
    assert body["panels"][0]["metric"] == {"name": "revenue", "bucket": "day", "agg": "sum"}
    assert body["panels"][1]["kpi"] == kpi.pk
    assert body["panels"][1]["metric"] is None
    assert body["panels"][2]["kpi"] is None
    assert body["panels"][2]["range"] is None


def test_slugs_stay_unique_and_read_only(manager, client_for):
    client = client_for(manager)
    first = create(client, slug="mine").json()
    second = create(client).json()
    assert (first["slug"], second["slug"]) == ("sales", "sales-2")
    renamed = client.patch(f"{URL}/{second['id']}", {"name": "Ops board", "slug": "x"}, format="json").json()
    assert renamed["slug"] == "ops-board"


@pytest.mark.parametrize(
    "panel",
    [
        series_panel(x=7, w=6),  # x + w > 12
        series_panel(w=0),
        series_panel(h=13),
        series_panel(h=0),
        series_panel(range_="last_week"),
        series_panel(range_={"from": "2026-02-01", "to": "2026-01-01"}),
        series_panel(range_={"from": "yesterday", "to": "2026-01-01"}),
        series_panel(range_={"from": "2026-01-01"}),
        {**series_panel(), "metric": None},
        {"type": "kpi", "x": 0, "y": 0, "w": 2, "h": 2},
        {"type": "kpi", "kpi": 999999, "x": 0, "y": 0, "w": 2, "h": 2},
        {**summary_panel(), "metric": {"name": "m", "bucket": "day"}},
    ],
)
def test_bad_panels_are_400(manager, client_for, panel):
    response = create(client_for(manager), panels=[panel])
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.json()
    assert response.json()["code"] == "invalid"
    assert "panels" in response.json()["errors"]
    assert not Board.objects.exists()


def test_no_two_panels_cover_the_same_cell(manager, client_for):
    client = client_for(manager)
    side_by_side = [series_panel(w=6), series_panel(x=6, w=6), series_panel(y=4, h=1, w=12)]
    assert create(client, panels=side_by_side).status_code == HTTPStatus.CREATED
    overlapping = [series_panel(w=6, h=4), series_panel(x=5, y=3, w=2, h=1)]
    response = create(client, panels=overlapping)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "overlaps panel 0 (column 5, row 3)" in response.json()["errors"]["panels"][0]


def test_at_most_fifty_panels(manager, client_for):
    client = client_for(manager)
    fifty = [series_panel(x=6 * (n % 2), y=n // 2, w=6, h=1) for n in range(50)]
    assert create(client, panels=fifty).status_code == HTTPStatus.CREATED
    response = create(client, panels=[*fifty, series_panel(y=25, h=1)])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "at most 50" in response.json()["errors"]["panels"][0]


def test_unknown_role_is_400(manager, client_for):
    response = create(client_for(manager), shared_with=["nobody"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "nobody" in response.json()["errors"]["shared_with"][0]


def test_panels_are_replaced_atomically(manager, client_for):
    client = client_for(manager)
    board = create(client, panels=[series_panel(), series_panel(y=4)]).json()
    before = [panel["id"] for panel in board["panels"]]
    bad = client.patch(f"{URL}/{board['id']}", {"panels": [series_panel(), series_panel(h=13, y=5)]}, format="json")
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert list(Panel.objects.filter(board_id=board["id"]).values_list("id", flat=True)) == before
    good = client.patch(f"{URL}/{board['id']}", {"panels": [summary_panel()]}, format="json")
    assert good.status_code == HTTPStatus.OK
    assert [panel["type"] for panel in good.json()["panels"]] == ["summary"]
    assert Panel.objects.filter(board_id=board["id"]).count() == 1
    # PATCH without panels keeps them; PUT is the whole board (missing panels: none).
    assert len(client.patch(f"{URL}/{board['id']}", {"description": "d"}, format="json").json()["panels"]) == 1
    put = client.put(f"{URL}/{board['id']}", {"name": "Renamed"}, format="json").json()
    assert (put["name"], put["description"], put["panels"]) == ("Renamed", "", [])


def test_visibility_and_who_edits(manager, user_with_role, client_for):
    board = create(client_for(manager), shared_with=["viewer"]).json()
    private = create(client_for(manager), name="Private").json()
    viewer, stranger = user_with_role("viewer"), user_with_role("analyst")
    as_viewer, as_stranger = client_for(viewer), client_for(stranger)
    assert [b["id"] for b in as_viewer.get(URL).json()["results"]] == [board["id"]]
    assert as_viewer.get(f"{URL}/{board['id']}").status_code == HTTPStatus.OK
    assert as_viewer.get(f"{URL}/{board['id']}/data").status_code == HTTPStatus.OK
    assert as_viewer.patch(f"{URL}/{board['id']}", {"name": "x"}, format="json").status_code == HTTPStatus.FORBIDDEN
    assert as_viewer.delete(f"{URL}/{board['id']}").status_code == HTTPStatus.FORBIDDEN
    # A sharee holding change_board still only reads.
    Group.objects.get(name="viewer").user_set.add(stranger)
    assert as_stranger.patch(f"{URL}/{board['id']}", {"name": "x"}, format="json").status_code == HTTPStatus.FORBIDDEN
    for path in (f"{URL}/{private['id']}", f"{URL}/{private['id']}/data", f"{URL}/{private['id']}/export"):
        assert as_viewer.get(path).status_code == HTTPStatus.NOT_FOUND
        assert as_stranger.get(path).status_code == HTTPStatus.NOT_FOUND
    assert as_stranger.delete(f"{URL}/{private['id']}").status_code == HTTPStatus.NOT_FOUND
    assert as_stranger.put(f"{URL}/{private['id']}", {"name": "x"}, format="json").status_code == HTTPStatus.NOT_FOUND
    assert client_for(manager).delete(f"{URL}/{private['id']}").status_code == HTTPStatus.NO_CONTENT


def _metrics(owner, name="revenue", days=40, start=0.0):
    now = timezone.now()
    for day in range(days):
        for hour in (1, 9, 17):
            MetricFactory(
                owner=owner, name=name, value=start + day * 3 + hour, timestamp=now - timedelta(days=day, hours=hour)
            )


def _resolved(range_, tz, now=None):
    if range_ is None:
        return {}
    if isinstance(range_, str):
        start, end = relative_range(range_, tz=tz, now=now or timezone.now())
        return {"from": start.isoformat(), "to": end.isoformat()}
    return {"from": range_["from"], "to": range_["to"]}


def test_data_is_what_each_endpoint_gives_the_caller(manager, analyst, client_for):
    """An analyst on a manager's shared board sees its own numbers, exactly as the matching endpoints give them."""
    tz = ZoneInfo("Europe/Berlin")
    _metrics(manager, start=1000)
    _metrics(analyst, days=20)
    _metrics(analyst, name="orders", days=20)
    revenue = KPIFactory(metric_name="revenue", period="month", aggregation="sum")
    orders = KPIFactory(metric_name="orders", period="week", aggregation="last")
    panels = [
        series_panel(range_=name, agg=agg, y=index * 4)
        for index, (name, agg) in enumerate(
            zip(RELATIVE_RANGES, ["sum", "avg", "min", "max", "count", "last", "sum", "avg"], strict=True)
        )
    ]
    panels += [
        series_panel(
            name="orders", bucket="hour", agg="last", range_={"from": "2026-01-01", "to": "2027-01-01T00:00"}, x=6, y=0
        ),
        series_panel(name="orders", bucket="week", range_=None, x=6, y=4),
        kpi_panel(revenue, x=6, y=8),
        kpi_panel(orders, range_="last_90_days", x=6, y=11),
        summary_panel(y=40),
    ]
    Group.objects.get(name="analyst").boards.add(
        Board.objects.get(pk=create(client_for(manager), panels=panels).json()["id"])
    )
    board = Board.objects.get()
    for caller in (analyst, manager):
        client = client_for(caller)
        data = client.get(f"{URL}/{board.pk}/data", {"tz": str(tz)})
        assert data.status_code == HTTPStatus.OK, data.json()
        body = data.json()
        assert body["board"]["id"] == board.pk
        assert len(body["panels"]) == len(panels)
        summary = _without_cut(client.get("/api/v1/dashboard/summary", {"tz": str(tz)}).json())
        for sent, got in zip(panels, body["panels"], strict=True):
            assert got["type"] == sent["type"]
            assert got["title"] == sent["title"]
            if sent["type"] == "series":
                query = {**sent["metric"], **_resolved(sent["range"], tz), "tz": str(tz)}
                expected = client.get("/api/v1/dashboard/metrics/series", query).json()
                assert got["series"] == expected
                assert expected["points"], sent
            elif sent["type"] == "kpi":
                query = {**_resolved(sent["range"], tz), "tz": str(tz)}
                expected = client.get(f"/api/v1/dashboard/kpis/{sent['kpi']}/series", query).json()
                assert got["series"] == expected
                assert expected["points"]
                expected = next(row for row in summary if row["kpi"]["id"] == sent["kpi"])
                assert _without_cut([got["summary"]]) == [expected]
            else:
                assert _without_cut(got["summary"]) == summary
        if caller == analyst:
            analyst_values = [point["value"] for point in body["panels"][0]["series"]["points"]]
            assert max(analyst_values) < 1000
        else:
            assert max(point["value"] for point in body["panels"][0]["series"]["points"]) > 1000


def _without_cut(rows: list[dict]) -> list[dict]:
    """Summary rows without ``previous_to_date.end``: the cut follows now (to the second), and two requests are two
    moments; it must still be a moment of the previous period."""
    trimmed = []
    for row in rows:
        cut = row["previous_to_date"]
        assert datetime.fromisoformat(cut["period_start"]) <= datetime.fromisoformat(cut["end"])
        assert datetime.fromisoformat(cut["end"]) <= datetime.fromisoformat(row["current"]["period_start"])
        trimmed.append({**row, "previous_to_date": {key: v for key, v in cut.items() if key != "end"}})
    return trimmed


def test_data_needs_the_panels_permissions(user_with_role, manager, client_for):
    board = create(client_for(manager), panels=[series_panel()], shared_with=["user_admin"]).json()
    Group.objects.get(name="user_admin").permissions.add(Permission.objects.get(codename="view_board"))
    response = client_for(user_with_role("user_admin")).get(f"{URL}/{board['id']}/data")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["missing"] == ["dashboard.view_metric"]


def _apps():
    return MigrationLoader(connection).project_state(("dashboard", "0011_grant_board_permissions")).apps


def _board_with(owner, panels) -> Board:
    board = Board.objects.create(owner=owner, name=f"B{Board.objects.count()}", slug=f"b{Board.objects.count()}")
    Panel.objects.bulk_create([Panel(board=board, position=index, **panel) for index, panel in enumerate(panels)])
    return board


def test_a_series_over_the_point_limit_is_that_panels_error_and_the_others_still_come(manager, client_for, settings):
    settings.SERIES_MAX_POINTS = 30
    _metrics(manager, days=40)  # 40 days of data: 40 day buckets, ~960 hours
    kpi = KPIFactory(metric_name="revenue", period="day", aggregation="sum")
    client = client_for(manager)
    hours: dict[str, object] = {
        "type": "series",
        "metric_name": "revenue",
        "metric_bucket": "hour",
        "metric_agg": "sum",
        "range": None,
    }
    weeks = {**hours, "metric_bucket": "week"}
    ranged_kpi = {"type": "kpi", "kpi": kpi, "range": "last_90_days"}  # 90 day buckets over the limit
    board = _board_with(
        manager,
        [
            {**panel, "x": 0, "y": n, "w": 12, "h": 1, "title": str(n)}
            for n, panel in enumerate([hours, weeks, ranged_kpi])
        ],
    )
    response = client.get(f"{URL}/{board.pk}/data")
    assert response.status_code == HTTPStatus.OK
    by_title = {panel["title"]: panel for panel in response.json()["panels"]}
    over = client.get("/api/v1/dashboard/metrics/series", {"name": "revenue", "bucket": "hour", "agg": "sum"})
    assert over.status_code == HTTPStatus.BAD_REQUEST
    assert "series" not in by_title["0"]
    assert by_title["0"]["error"] == {k: v for k, v in over.json().items() if k in by_title["0"]["error"]}
    assert by_title["0"]["error"]["code"] == "too_many_points"
    assert by_title["0"]["error"]["finest_bucket"] == "week"  # 40-odd days: more than 30 days, 6 or 7 weeks
    assert by_title["1"]["series"]["points"]  # weeks fit: data as metrics/series gives it
    assert "error" not in by_title["1"]
    assert by_title["2"]["summary"]["kpi"]["id"] == kpi.pk
    assert by_title["2"]["error"]["code"] == "too_many_points"
    assert by_title["2"]["error"]["bucket"] == "day"
    settings.SERIES_MAX_POINTS = 10_000
    again = {panel["title"]: panel for panel in client.get(f"{URL}/{board.pk}/data").json()["panels"]}
    assert "error" not in again["0"]
    assert len(again["0"]["series"]["points"]) == 40 * 3


# Authentication (1), the board, its panels and roles (3), then: the extents of the names of open-ended series (one,
# for the point limit) and the series batch; the summary (the KPIs, and one aggregate for this month, last month and
# last month to date) and the recent series (one); all of these for a mixed board.
BOUND = {"series": 6, "kpi": 7, "mixed": 9}


@pytest.mark.parametrize("kind", ["series", "kpi", "mixed"])
def test_data_queries_do_not_grow_with_panels(manager, client_for, django_assert_num_queries, kind):
    _metrics(manager, days=10)
    kpis = [
        KPIFactory(metric_name=f"m{n % 4}", period="month", aggregation=["sum", "avg", "max"][n % 3]) for n in range(10)
    ]

    def panel(n: int) -> dict:
        at = {"x": 0, "y": n, "w": 12, "h": 1, "title": str(n)}
        if kind == "kpi" or (kind == "mixed" and n % 3 == 1):
            return {"type": "kpi", "kpi": kpis[n % 10], "range": None, **at}
        if kind == "mixed" and n % 3 == 2 and n != 2:
            return {"type": "summary", **at}
        ranges = [*RELATIVE_RANGES, {"from": f"2026-0{1 + n % 9}-01", "to": "2027-01-01"}, None]
        return {
            "type": "series",
            "metric_name": ["revenue", "m1", "m2"][n % 3],
            "metric_bucket": ["hour", "day", "week", "month"][n % 4],
            "metric_agg": ["sum", "avg", "min", "max", "count"][n % 5],
            "range": ranges[n % len(ranges)],
            **at,
        }

    client = client_for(manager)
    # Panel 9 is a series over all data (an open range): the one query for extents is there from the first panel on.
    one = _board_with(
        manager, [panel(9 if kind != "kpi" else 1)] if kind != "mixed" else [panel(9), panel(1), panel(2)]
    )
    forty = _board_with(manager, [panel(n) for n in range(40)])
    client.get(URL)  # the caller's access profile is cached from here on (accounts.authz)
    with django_assert_num_queries(BOUND[kind]) as few:
        assert client.get(f"{URL}/{one.pk}/data").status_code == HTTPStatus.OK
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(f"{URL}/{forty.pk}/data").json()["panels"]) == 40


def test_export_import_round_trip(manager, analyst, client_for):
    kpi = KPIFactory(name="Revenue", slug="revenue")
    panels = [
        kpi_panel(kpi, range_={"from": "2026-01-01", "to": "2026-07-01T00:00:00+02:00"}),
        series_panel(agg="last", x=4, w=8),
        summary_panel(y=4),
    ]
    board = create(client_for(manager), description="Q", shared_with=["viewer", "analyst"], panels=panels).json()
    exported = client_for(manager).get(f"{URL}/{board['id']}/export").json()
    assert "id" not in exported
    assert "owner" not in exported
    assert "slug" not in exported
    assert exported["shared_with"] == ["analyst", "viewer"]
    assert exported["panels"][0]["kpi"] == "revenue"
    assert "id" not in exported["panels"][0]
    # The analyst (a sharee) imports a copy of its own.
    imported = client_for(analyst).post(f"{URL}/import", exported, format="json")
    assert imported.status_code == HTTPStatus.CREATED, imported.json()
    copy = imported.json()
    assert copy["owner"] == analyst.pk
    assert copy["id"] != board["id"]
    assert copy["slug"] == "sales-2"
    assert client_for(analyst).get(f"{URL}/{copy['id']}/export").json() == exported


def test_import_names_unknown_kpis(manager, client_for):
    known = KPIFactory(slug="revenue")
    body = {
        "name": "Imported",
        "panels": [
            {"type": "kpi", "kpi": "revenue", "x": 0, "y": 0, "w": 2, "h": 2},
            {"type": "kpi", "kpi": "ghost", "x": 2, "y": 0, "w": 2, "h": 2},
            {"type": "kpi", "kpi": "phantom", "x": 4, "y": 0, "w": 2, "h": 2},
        ],
    }
    response = client_for(manager).post(f"{URL}/import", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    message = response.json()["errors"]["panels"][0]
    assert "ghost" in message
    assert "phantom" in message
    assert known.slug not in message
    assert not Board.objects.exists()


def _board_codenames(role: str) -> set[str]:
    return set(
        Group.objects.get(name=role).permissions.filter(codename__endswith="_board").values_list("codename", flat=True)
    )


def test_board_permissions_are_granted_idempotently_and_revoked():
    apps = _apps()
    every = {"view_board", "add_board", "change_board", "delete_board"}
    assert _board_codenames("analyst") == _board_codenames("manager") == every
    assert _board_codenames("viewer") == {"view_board"}
    assert _board_codenames("user_admin") == set()
    GRANTS.grant(apps, None)
    assert _board_codenames("manager") == every
    GRANTS.revoke(apps, None)
    assert _board_codenames("analyst") == _board_codenames("manager") == _board_codenames("viewer") == set()
    assert Group.objects.get(name="viewer").permissions.filter(codename="view_kpi").exists()
    GRANTS.grant(apps, None)
    assert _board_codenames("viewer") == {"view_board"}
