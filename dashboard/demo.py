"""Demo data for newcomers: a staff user per role, a dozen KPIs with targets, a year of metrics up to today, and two
boards.

Idempotent: running it again adds only the days missing up to today and leaves existing users, KPIs and boards alone.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from accounts.services.users import user_create
from dashboard.boards.models import Board
from dashboard.boards.services import board_create
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_summary
from dashboard.kpis.services import kpi_create
from dashboard.metrics.models import Metric
from dashboard.metrics.services import metrics_create
from dashboard.timeseries import bucket_start

DEMO_DOMAIN = "demo.local"
DAYS = 365
# role -> (email, full name); the roles are the ones seeded by the migrations.
DEMO_USERS = {
    "viewer": ("viewer@demo.local", "Demo Viewer"),
    "analyst": ("analyst@demo.local", "Demo Analyst"),
    "manager": ("manager@demo.local", "Demo Manager"),
    "user_admin": ("useradmin@demo.local", "Demo User Admin"),
}


@dataclass(frozen=True)
class MetricSpec:
    """How one demo metric behaves: who owns it, when it is sampled and what a sample is worth."""

    name: str
    owner_role: str
    hours: tuple[int, ...]
    sample: Callable[[random.Random, float, date], float]
    # Samples of a given day: None = every hour in ``hours``; else a function of the day's RNG (e.g. a ticket count).
    per_day: Callable[[random.Random, date], int] | None = None
    weekly_on: int | None = None  # weekday (0 = Monday) for a metric recorded once a week
    stops_before_quarter: bool = False  # no data in the current quarter (so its KPI has "no data")


def _weekday_factor(day: date, weekend: float) -> float:
    return weekend if day.weekday() >= 5 else 1.0


def _revenue(rng: random.Random, growth: float, day: date) -> float:
    return round(max(50.0, 950 * (1 + 0.35 * growth) * _weekday_factor(day, 0.6) * rng.gauss(1, 0.18)), 2)


def _signups(rng: random.Random, growth: float, day: date) -> float:
    return float(max(0, round(14 * (1 + 0.5 * growth) * _weekday_factor(day, 0.7) * rng.gauss(1, 0.25))))


def _active_users(rng: random.Random, growth: float, day: date) -> float:
    return float(round(1200 * (1 + 0.6 * growth) * _weekday_factor(day, 0.85) * rng.gauss(1, 0.03)))


def _latency(rng: random.Random, growth: float, day: date) -> float:
    spike = rng.random() < 0.04
    return float(round(max(40.0, rng.gauss(185 - 30 * growth, 22) * (2.4 if spike else 1))))  # whole milliseconds


def _error_rate(rng: random.Random, growth: float, day: date) -> float:
    return round(max(0.05, rng.gauss(0.9 - 0.35 * growth, 0.15)), 3)


def _stock(rng: random.Random, growth: float, day: date) -> float:
    cycle = math.sin(2 * math.pi * day.toordinal() / 37)
    return float(max(0, round(520 + 140 * cycle + rng.gauss(0, 35))))


def _nps(rng: random.Random, growth: float, day: date) -> float:
    return float(round(rng.gauss(38 + 8 * growth, 4)))


def _churn(rng: random.Random, growth: float, day: date) -> float:
    return round(max(0.2, rng.gauss(2.4 - 0.6 * growth, 0.12)), 2)


def _ticket(rng: random.Random, growth: float, day: date) -> float:
    return 1.0  # one ticket opened: summed or counted, whole tickets


def _tickets_per_day(rng: random.Random, day: date) -> int:
    return max(0, round(rng.gauss(9 if day.weekday() < 5 else 3, 2.5)))


METRICS = [
    MetricSpec("revenue", "manager", (9, 12, 15, 18), _revenue),
    MetricSpec("signups", "analyst", (8, 13, 20), _signups),
    MetricSpec("active_users", "analyst", (23,), _active_users),
    MetricSpec("api_latency_ms", "analyst", (1, 5, 9, 13, 17, 21), _latency),
    MetricSpec("error_rate", "analyst", (6, 18), _error_rate),
    MetricSpec("stock_level", "manager", (7, 19), _stock),
    MetricSpec("nps", "manager", (10,), _nps, weekly_on=0, stops_before_quarter=True),
    MetricSpec("churn_rate", "manager", (22,), _churn),
    MetricSpec("support_tickets", "analyst", tuple(range(8, 20)), _ticket, per_day=_tickets_per_day),
]


@dataclass(frozen=True)
class KPISpec:
    name: str
    metric_name: str
    aggregation: str
    period: str
    direction: str
    unit: str
    description: str
    # The status the target is chosen to give the last full period (as the manager, who sees every metric, sees it),
    # or a fixed target. A target is for a whole period, never for the one still running.
    aim: str | None = None
    target: float | None = None


KPIS = [
    KPISpec(
        "Monthly revenue", "revenue", "sum", "month", "up", "€", "Sales booked this month.", aim=KPI.Status.ON_TRACK
    ),
    KPISpec("Weekly revenue", "revenue", "sum", "week", "up", "€", "Sales booked this week.", aim=KPI.Status.AT_RISK),
    KPISpec(
        "Quarterly revenue",
        "revenue",
        "sum",
        "quarter",
        "up",
        "€",
        "Sales booked this quarter.",
        aim=KPI.Status.OFF_TRACK,
    ),
    KPISpec(
        "Weekly signups", "signups", "sum", "week", "up", "users", "New accounts per week.", aim=KPI.Status.ON_TRACK
    ),
    KPISpec("Active users", "active_users", "last", "month", "up", "users", "Daily active users, latest count."),
    KPISpec(
        "API latency", "api_latency_ms", "avg", "week", "down", "ms", "Mean response time.", aim=KPI.Status.AT_RISK
    ),
    KPISpec(
        "Worst API latency", "api_latency_ms", "max", "day", "down", "ms", "Slowest response.", aim=KPI.Status.OFF_TRACK
    ),
    KPISpec(
        "Error rate", "error_rate", "avg", "month", "down", "%", "Share of failed requests.", aim=KPI.Status.ON_TRACK
    ),
    KPISpec(
        "Support tickets", "support_tickets", "count", "week", "down", "tickets", "Opened.", aim=KPI.Status.OFF_TRACK
    ),
    KPISpec(
        "Lowest stock level",
        "stock_level",
        "min",
        "week",
        "up",
        "units",
        "Warehouse low point.",
        aim=KPI.Status.AT_RISK,
    ),
    KPISpec("Net promoter score", "nps", "avg", "quarter", "up", "pts", "Quarterly survey.", target=45),
    KPISpec("Churn rate", "churn_rate", "last", "month", "down", "%", "Monthly churn, latest estimate."),
]

# target = value * factor gives each aim with the default 10% margin: on track, 5% short, 25% short.
AIM_FACTORS: dict[str, dict[str, float]] = {
    "up": {KPI.Status.ON_TRACK: 0.9, KPI.Status.AT_RISK: 1 / 0.95, KPI.Status.OFF_TRACK: 1 / 0.75},
    "down": {KPI.Status.ON_TRACK: 1.1, KPI.Status.AT_RISK: 1 / 1.05, KPI.Status.OFF_TRACK: 1 / 1.3},
}


def demo_samples(spec: MetricSpec, *, first_day: date, today: date, now: datetime, tz: ZoneInfo) -> list[dict]:
    """Samples of *spec* for the days ``first_day`` … ``today`` (none later than *now*), the same on every run."""
    samples: list[dict] = []
    quarter_start = bucket_start(now, "quarter", tz).date()
    year_start = today - timedelta(days=DAYS)
    day = first_day
    while day <= today:
        if spec.stops_before_quarter and day >= quarter_start:
            break
        if spec.weekly_on is None or day.weekday() == spec.weekly_on:
            rng = random.Random(f"{spec.name}:{day.isoformat()}")  # noqa: S311 - demo data, reproducible on purpose
            growth = (day - year_start).days / DAYS
            count = spec.per_day(rng, day) if spec.per_day else len(spec.hours)
            taken: set[datetime] = set()
            for index in range(count):
                hour = spec.hours[index % len(spec.hours)]
                moment = datetime.combine(day, time(hour, rng.randrange(60)), tzinfo=tz)
                while moment in taken:  # two tickets in one minute: a second apart, so no two samples coincide
                    moment += timedelta(seconds=1)
                taken.add(moment)
                if moment > now:
                    if day != today or (samples and samples[-1]["timestamp"].date() == today):
                        continue
                    # Today always has one sample, however early it is.
                    moment = max(datetime.combine(day, time(), tzinfo=tz), now - timedelta(minutes=1))
                samples.append({"name": spec.name, "value": spec.sample(rng, growth, day), "timestamp": moment})
        day += timedelta(days=1)
    return samples


def aimed_target(*, kpi: KPI, value: float, aim: str) -> float:
    """A round target that gives a period worth *value* the status *aim* (checked with the contract's own rule);
    whole when *value* is a whole number from 10 up (tickets, users, units), as people set such targets."""
    exact = value * AIM_FACTORS[kpi.direction][aim]
    whole = value == int(value) and abs(value) >= 10
    for digits in (2, 3, 4):
        rounded = float(f"{exact:.{digits}g}")
        kpi.target = float(round(rounded)) if whole else rounded
        if kpi.reading(current=value, previous=None).status == aim:
            return kpi.target
    return float(round(exact)) if whole else exact


@dataclass
class DemoSeedResult:
    users: dict[str, User]
    passwords: dict[str, str]
    metrics_added: int
    kpis_created: list[str]
    missing_roles: list[str] = field(default_factory=list)
    boards_created: list[str] = field(default_factory=list)


def demo_seed(*, reset_passwords: bool = False, now: datetime | None = None) -> DemoSeedResult:
    """Create or complete the demo data; new (or reset) passwords are returned, never stored in clear."""
    tz = ZoneInfo(settings.TIME_ZONE)
    now = now or timezone.now()
    missing: list[str] = []
    with transaction.atomic():
        users, passwords = _demo_users(reset_passwords=reset_passwords, missing=missing)
        added = _demo_metrics(users, tz=tz, now=now)
        created = _demo_kpis(users, tz=tz, now=now)
        boards = _demo_boards(users)
    return DemoSeedResult(users, passwords, added, created, missing, boards)


def _demo_users(*, reset_passwords: bool, missing: list[str]) -> tuple[dict[str, User], dict[str, str]]:
    users: dict[str, User] = {}
    passwords: dict[str, str] = {}
    roles = {role.name: role for role in Group.objects.filter(name__in=DEMO_USERS)}
    for role_name, (email, full_name) in DEMO_USERS.items():
        role = roles.get(role_name)
        if role is None:
            missing.append(role_name)
            continue
        user = User.objects.with_email(email).first()
        password = secrets.token_urlsafe(12)
        if user is None:
            user = user_create(email=email, password=password, full_name=full_name, is_staff=True, roles=[role])
            passwords[email] = password
        elif reset_passwords:
            user.set_password(password)
            user.save()
            passwords[email] = password
        users[role_name] = user
    return users, passwords


def _demo_metrics(users: dict[str, User], *, tz: ZoneInfo, now: datetime) -> int:
    today = now.astimezone(tz).date()
    owners = {spec.owner_role for spec in METRICS if spec.owner_role in users}
    last_seen = {
        (row["owner_id"], row["name"]): row["last"]
        for row in Metric.objects.filter(owner__in=[users[role] for role in owners], name__in=[m.name for m in METRICS])
        .values("owner_id", "name")
        .annotate(last=Max("timestamp"))
    }
    added = 0
    for spec in METRICS:
        owner = users.get(spec.owner_role)
        if owner is None:
            continue
        last = last_seen.get((owner.pk, spec.name))
        first_day = last.astimezone(tz).date() + timedelta(days=1) if last else today - timedelta(days=DAYS)
        samples = demo_samples(spec, first_day=first_day, today=today, now=now, tz=tz)
        added += len(metrics_create(owner=owner, items=samples))
    return added


def _demo_kpis(users: dict[str, User], *, tz: ZoneInfo, now: datetime) -> list[str]:
    manager = users.get("manager")
    existing = set(KPI.objects.filter(name__in=[spec.name for spec in KPIS]).values_list("name", flat=True))
    created = []
    for spec in KPIS:
        if spec.name in existing:
            continue
        kpi_create(
            created_by=manager,  # type: ignore[arg-type]  # None without the manager role; KPI.created_by is nullable
            name=spec.name,
            description=spec.description,
            metric_name=spec.metric_name,
            aggregation=spec.aggregation,
            period=spec.period,
            direction=spec.direction,
            unit=spec.unit,
            target=spec.target,
        )
        created.append(spec.name)
    aims = {spec.name: spec.aim for spec in KPIS if spec.aim and spec.name in created}
    if aims and manager is not None:
        # Targets follow the last full period as the manager (who sees every metric) sees it: a month's target is
        # set from a whole month, never from the few days of the one that has just begun.
        for row in kpi_summary(user=manager, tz=tz, now=now):
            aim = aims.get(row.kpi.name)
            if aim and row.previous.value is not None:
                row.kpi.target = aimed_target(kpi=row.kpi, value=row.previous.value, aim=aim)
                row.kpi.save(update_fields=["target"])
    return created


def _kpi(name: str, x: int, y: int, w: int = 4, h: int = 5) -> dict:
    return {"type": "kpi", "title": name, "kpi": name, "x": x, "y": y, "w": w, "h": h}


def _series(title: str, name: str, bucket: str, agg: str, range_: str, x: int, y: int, w: int = 6, h: int = 5) -> dict:
    metric = {"name": name, "bucket": bucket, "agg": agg}
    return {"type": "series", "title": title, "metric": metric, "range": range_, "x": x, "y": y, "w": w, "h": h}


# slug (made from the name) -> (owner role, name, description, roles shared with, panels naming their KPI by name)
DEMO_BOARDS = {
    "sales-overview": (
        "manager",
        "Sales overview",
        "Revenue and growth at a glance, shared with every viewer and analyst.",
        ["viewer", "analyst"],
        [
            _kpi("Monthly revenue", 0, 0),
            _kpi("Weekly signups", 4, 0),
            _kpi("Active users", 8, 0),
            _series("Revenue per day", "revenue", "day", "sum", "last_90_days", 0, 5, w=8),
            _series("Signups per week", "signups", "week", "sum", "last_12_months", 8, 5, w=4),
            {"type": "summary", "title": "Every KPI", "x": 0, "y": 10, "w": 12, "h": 6},
        ],
    ),
    "service-health": (
        "analyst",
        "Service health",
        "Latency, errors and support load: the analyst's own board.",
        [],
        [
            _kpi("API latency", 0, 0),
            _kpi("Error rate", 4, 0),
            _kpi("Support tickets", 8, 0),
            _series("Mean latency per day", "api_latency_ms", "day", "avg", "last_30_days", 0, 5),
            _series("Worst latency per day", "api_latency_ms", "day", "max", "last_30_days", 6, 5),
            _series("Tickets per week", "support_tickets", "week", "count", "this_quarter", 0, 10, w=12, h=4),
        ],
    ),
}


def _demo_boards(users: dict[str, User]) -> list[str]:
    """The demo boards that are missing (by slug), through the board service; panels of deleted KPIs are left out."""
    existing = set(Board.objects.filter(slug__in=DEMO_BOARDS).values_list("slug", flat=True))
    kpis = dict(KPI.objects.filter(name__in=[spec.name for spec in KPIS]).values_list("name", "pk"))
    roles = set(Group.objects.values_list("name", flat=True))
    created = []
    for slug, (owner_role, name, description, shared_with, panels) in DEMO_BOARDS.items():
        owner = users.get(owner_role)
        if slug in existing or owner is None:
            continue
        panels = [
            {**panel, "kpi": kpis[panel["kpi"]]} if panel["type"] == "kpi" else panel
            for panel in panels
            if panel["type"] != "kpi" or panel["kpi"] in kpis
        ]
        board_create(
            owner=owner,
            name=name,
            description=description,
            shared_with=[role for role in shared_with if role in roles],
            panels=panels,
        )
        created.append(name)
    return created
