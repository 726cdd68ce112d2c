"""``manage.py seed_demo``: users per role, a dozen KPIs showing every status, a year of metrics; idempotent, fast."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from accounts.models import User
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_summary
from dashboard.metrics.models import Metric

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 14, 30, tzinfo=UTC)
EMAILS = ["viewer@demo.local", "analyst@demo.local", "manager@demo.local", "useradmin@demo.local"]


@pytest.fixture
def frozen(monkeypatch):
    """Pin ``timezone.now()``; returns a setter to move the clock."""
    clock = {"now": NOW}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])

    def move(to: datetime) -> None:
        clock["now"] = to

    return move


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_creates_staff_users_for_every_role_and_prints_passwords_once_with_debug(settings, frozen):
    settings.DEBUG = True
    output = seed()
    passwords = dict(re.findall(r"(\S+@demo\.local)\s+password: (\S+)", output))
    assert sorted(passwords) == sorted(EMAILS)
    for email, password in passwords.items():
        user = User.objects.get(email=email)
        assert user.is_staff
        assert not user.is_superuser
        assert authenticate(username=email, password=password) == user
    roles = {user.email: [g.name for g in user.groups.all()] for user in User.objects.prefetch_related("groups")}
    assert roles == {
        "viewer@demo.local": ["viewer"],
        "analyst@demo.local": ["analyst"],
        "manager@demo.local": ["manager"],
        "useradmin@demo.local": ["user_admin"],
    }
    again = seed()
    assert "password:" not in again
    assert "--reset-passwords" in again


def test_passwords_are_never_printed_without_debug(settings, frozen):
    settings.DEBUG = False
    output = seed()
    assert "password:" not in output
    assert "changepassword" in output
    assert User.objects.filter(email__in=EMAILS, is_staff=True).count() == 4
    with pytest.raises(CommandError, match="DEBUG"):
        seed("--reset-passwords")


def test_reset_passwords_gives_new_working_ones(settings, frozen):
    settings.DEBUG = True
    seed()
    output = seed("--reset-passwords")
    passwords = dict(re.findall(r"(\S+@demo\.local)\s+password: (\S+)", output))
    assert sorted(passwords) == sorted(EMAILS)
    assert authenticate(username="manager@demo.local", password=passwords["manager@demo.local"])


def test_a_dozen_kpis_with_every_status_and_a_year_of_metrics_up_to_now(frozen):
    seed()
    assert KPI.objects.count() == 12
    assert len({kpi.period for kpi in KPI.objects.all()}) >= 4
    assert {kpi.aggregation for kpi in KPI.objects.all()} == {"sum", "avg", "min", "max", "count", "last"}
    assert {kpi.direction for kpi in KPI.objects.all()} == {"up", "down"}
    manager = User.objects.get(email="manager@demo.local")
    statuses = [row.status for row in kpi_summary(user=manager, tz=ZoneInfo("UTC"), now=NOW)]
    assert {"on_track", "at_risk", "off_track", "no_data", "no_target"} <= set(statuses)

    span = Metric.objects.aggregate(first=Min("timestamp"), last=Max("timestamp"), count=Count("id"))
    assert span["last"] <= NOW
    assert span["last"].date() == NOW.date()
    assert span["first"].date() == (NOW - timedelta(days=365)).date()
    assert 5_000 < span["count"] < 50_000
    owners = set(Metric.objects.values_list("owner__email", flat=True).distinct())
    assert owners == {"analyst@demo.local", "manager@demo.local"}
    # Every daily metric has today's value, however early in the day.
    today = set(Metric.objects.filter(timestamp__date=NOW.date()).values_list("name", flat=True))
    assert {"revenue", "signups", "active_users", "api_latency_ms", "error_rate", "stock_level"} <= today


def test_running_again_duplicates_nothing_and_adds_the_missing_days(frozen):
    seed()
    counts = dict(Metric.objects.values_list("name").annotate(n=Count("id")))
    kpis = list(KPI.objects.values_list("name", "target").order_by("name"))
    assert "0 metrics added" in seed()
    assert dict(Metric.objects.values_list("name").annotate(n=Count("id"))) == counts
    assert list(KPI.objects.values_list("name", "target").order_by("name")) == kpis

    later = NOW + timedelta(days=3)
    frozen(later)
    seed()
    added = Metric.objects.filter(timestamp__gt=NOW)
    assert added.exists()
    assert added.aggregate(last=Max("timestamp"))["last"] <= later
    assert Metric.objects.filter(name="revenue", timestamp__date=later.date()).exists()
    duplicates = Metric.objects.values("owner", "name", "timestamp").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    assert list(KPI.objects.values_list("name", "target").order_by("name")) == kpis


def test_early_in_the_day_today_still_has_a_value(frozen):
    frozen(datetime(2026, 5, 20, 0, 0, 30, tzinfo=UTC))
    seed()
    assert Metric.objects.filter(name="active_users", timestamp__date=datetime(2026, 5, 20).date()).count() == 1
    assert Metric.objects.aggregate(last=Max("timestamp"))["last"] <= datetime(2026, 5, 20, 0, 0, 30, tzinfo=UTC)


def test_demo_users_have_no_mfa_and_the_output_says_how_to_enrol(frozen):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    output = seed()
    assert not TOTPDevice.objects.filter(user__email__in=EMAILS).exists()
    assert "two-factor" in output
    assert "/api/v1/users/me/mfa/totp" in output


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 1, 0, 30, tzinfo=UTC),
        datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
    ],
    ids=["1st", "2nd", "28th"],
)
def test_targets_come_from_full_periods_and_statuses_are_a_sensible_mix_on_any_day(frozen, now):
    frozen(now)
    seed()
    manager = User.objects.get(email="manager@demo.local")
    rows = {row.kpi.name: row for row in kpi_summary(user=manager, tz=ZoneInfo("UTC"), now=now)}
    statuses = {row.status for row in rows.values()}
    assert {"on_track", "off_track", "no_data", "no_target"} <= statuses, statuses
    for name, row in rows.items():
        kpi = row.kpi
        if kpi.target is None or row.previous.value is None:
            continue
        # A target is set for a whole period: near what the last full period gave, whatever day it is.
        assert 0.5 <= kpi.target / row.previous.value <= 2, (name, kpi.target, row.previous.value)
        if kpi.aggregation in ("count", "sum") and kpi.unit in ("tickets", "users"):
            assert kpi.target == int(kpi.target), (name, kpi.target)  # whole tickets and users
        # No "On track" beside a collapse: a higher-is-better KPI on track is not far behind last period to date.
        if kpi.direction == "up" and row.status == "on_track" and row.change_to_date_pct is not None:
            assert row.change_to_date_pct > -50, (name, row.change_to_date_pct)
    # Whole tickets and whole milliseconds, as they are counted and measured.
    for name in ("support_tickets", "api_latency_ms"):
        values = Metric.objects.filter(name=name).values_list("value", flat=True)
        assert all(value == int(value) for value in values), name


def test_two_demo_boards_one_shared_with_viewers_made_once(frozen, client_for):
    from dashboard.boards.models import Board

    assert "2 new boards" in seed()
    boards = {board.slug: board for board in Board.objects.prefetch_related("shared_with", "panels")}
    assert set(boards) == {"sales-overview", "service-health"}
    sales = boards["sales-overview"]
    assert sales.owner.email == "manager@demo.local"
    assert sorted(role.name for role in sales.shared_with.all()) == ["analyst", "viewer"]
    assert {panel.type for panel in sales.panels.all()} == {"kpi", "series", "summary"}
    assert boards["service-health"].owner.email == "analyst@demo.local"
    assert not boards["service-health"].shared_with.exists()
    assert "0 new boards" in seed()
    assert Board.objects.count() == 2
    # The viewer sees the shared board (and its data, with its own visibility), not the analyst's.
    viewer = client_for(User.objects.get(email="viewer@demo.local"))
    assert [board["slug"] for board in viewer.get("/api/v1/dashboard/boards").json()["results"]] == ["sales-overview"]
    data = viewer.get(f"/api/v1/dashboard/boards/{sales.pk}/data").json()
    assert len(data["panels"]) == 6
    # The manager sees everything: its board's numbers are there.
    manager = client_for(User.objects.get(email="manager@demo.local"))
    revenue = manager.get(f"/api/v1/dashboard/boards/{sales.pk}/data").json()["panels"][3]["series"]["points"]
    assert len(revenue) >= 89
