"""Benchmark: metrics/series and summary through gunicorn against the same aggregates in raw SQL.

Loads N generated metrics (default 1,000,000) into a scratch PostgreSQL database, then times
  - GET /api/v1/dashboard/metrics/series (day buckets, one name, one year) vs the raw GROUP BY in SQL;
  - GET /api/v1/dashboard/summary with 20 KPIs vs the raw SQL aggregates for the same periods;
and prints the medians and their ratio. Goal: API <= 1.3 x raw SQL + 20 ms.

    .venv/bin/python bench/bench_dashboard.py [--rows 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gunicorn, http_json, manage, median_seconds, query_value, recreate_database

NAMES = [f"{area}.{kind}" for area in ("sales", "web", "ops", "support", "hr") for kind in range(10)]
AGGREGATIONS = ["sum", "avg", "min", "max", "count", "last"]
PERIODS = ["day", "week", "month", "quarter", "year"]
PASSWORD = "bench-Password-2026"
EMAIL = "bench@example.com"


def load(db_url: str, rows: int) -> int:
    """Create the bench user (manager role) and COPY *rows* metrics spread over two years up to now."""
    manage(db_url, "migrate", "--noinput", "-v0")
    now = datetime.now(UTC)
    with psycopg.connect(db_url) as conn:
        user_id = query_value(
            conn,
            "INSERT INTO accounts_user (password, is_superuser, email, full_name, is_active, is_staff, date_joined,"
            " token_version) VALUES ('', false, %s, 'Bench', true, false, now(), 0) RETURNING id",
            [EMAIL],
        )
        group_id = query_value(conn, "SELECT id FROM auth_group WHERE name = 'analyst'")
        conn.execute("INSERT INTO accounts_user_groups (user_id, group_id) VALUES (%s, %s)", [user_id, group_id])
        rng = random.Random(42)
        span = 2 * 365 * 24 * 3600
        started = time.perf_counter()
        with conn.cursor().copy("COPY dashboard_metric (name, value, timestamp, owner_id) FROM STDIN") as copy:
            for _ in range(rows):
                copy.write_row(
                    (rng.choice(NAMES), rng.uniform(0, 1000), now - timedelta(seconds=rng.randrange(span)), user_id)
                )
        conn.execute("ANALYZE dashboard_metric")
        print(f"loaded {rows:,} metrics in {time.perf_counter() - started:.1f} s")
        for i in range(20):
            conn.execute(
                "INSERT INTO dashboard_kpi (name, slug, description, metric_name, aggregation, period, target,"
                " direction, warning_threshold_pct, unit, created_at) VALUES (%s, %s, '', %s, %s, %s, %s, 'up', 10,"
                " '', now())",
                [f"KPI {i}", f"kpi-{i}", NAMES[i], AGGREGATIONS[i % 6], PERIODS[i % 5], 1000.0],
            )
    # Django's password hash, set through the ORM's own command line.
    manage(
        db_url,
        "shell",
        "-c",
        f"from accounts.models import User; u = User.objects.get(email={EMAIL!r}); "
        f"u.set_password({PASSWORD!r}); u.save()",
    )
    return user_id


SERIES_SQL = """
SELECT date_trunc('day', "timestamp" AT TIME ZONE 'UTC') AS t, sum(value), count(*)
FROM dashboard_metric WHERE owner_id = %s AND name = %s AND "timestamp" >= %s AND "timestamp" < %s
GROUP BY 1 ORDER BY 1
"""

SUMMARY_SQL = """
SELECT name, date_trunc(%s, "timestamp" AT TIME ZONE 'UTC') AS t,
       sum(value), avg(value), min(value), max(value), count(*)
FROM dashboard_metric WHERE owner_id = %s AND name = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s
GROUP BY 1, 2
"""


def period_bounds(now: datetime, period: str) -> tuple[datetime, datetime]:
    """[previous period start, next period start) in UTC, as the summary uses them."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day - timedelta(days=1), day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start - timedelta(weeks=1), start + timedelta(weeks=1)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    first = day.replace(day=1)
    index = first.year * 12 + first.month - 1
    index -= index % months
    start = first.replace(year=index // 12, month=index % 12 + 1)

    def shift(steps: int) -> datetime:
        i = index + steps * months
        return start.replace(year=i // 12, month=i % 12 + 1)

    return shift(-1), shift(1)


def raw_summary(conn, user_id: int) -> None:
    now = datetime.now(UTC)
    conn.execute("SELECT id, name, metric_name, aggregation, period, target FROM dashboard_kpi ORDER BY name, id")
    for period in PERIODS:
        names = [NAMES[i] for i in range(20) if PERIODS[i % 5] == period]
        start, end = period_bounds(now, period)
        conn.execute(SUMMARY_SQL, [period, user_id, names, start, end]).fetchall()
        if not any(PERIODS[i % 5] == period and AGGREGATIONS[i % 6] == "last" for i in range(20)):
            continue  # like the API: the "last" query only for periods that have such a KPI
        conn.execute(
            'SELECT DISTINCT ON (name, t) name, t, value FROM (SELECT name, value, "timestamp", id,'
            " date_trunc(%s, \"timestamp\" AT TIME ZONE 'UTC') AS t FROM dashboard_metric WHERE owner_id = %s"
            ' AND name = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s) s'
            ' ORDER BY name, t, "timestamp" DESC, id DESC',
            [period, user_id, names, start, end],
        ).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", default="bench_dashboard")
    args = parser.parse_args()

    db_url = recreate_database(args.database)
    user_id = load(db_url, args.rows)
    now = datetime.now(UTC)
    start = (now - timedelta(days=365)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    name = NAMES[0]

    with psycopg.connect(db_url) as conn:
        raw_series = median_seconds(
            lambda: conn.execute(SERIES_SQL, [user_id, name, start, end]).fetchall(), args.repeat
        )
        raw_summary_time = median_seconds(lambda: raw_summary(conn, user_id), args.repeat)
        raw_points = len(conn.execute(SERIES_SQL, [user_id, name, start, end]).fetchall())

    with gunicorn(db_url) as (base, _process):
        token = http_json("POST", f"{base}/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})["access"]
        query = f"name={name}&bucket=day&agg=sum&from={start:%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"
        series_url = f"{base}/api/v1/dashboard/metrics/series?{query}"
        api_points = len(http_json("GET", series_url, token=token)["points"])
        api_series = median_seconds(lambda: http_json("GET", series_url, token=token), args.repeat)
        summary_url = f"{base}/api/v1/dashboard/summary"
        kpis = len(http_json("GET", summary_url, token=token))
        api_summary = median_seconds(lambda: http_json("GET", summary_url, token=token), args.repeat)

    assert api_points == raw_points, (api_points, raw_points)
    print(f"rows={args.rows:,} repeat={args.repeat} (medians)")
    for label, api, raw in (
        ("series (day, 1 name, 1 year)", api_series, raw_series),
        (f"summary ({kpis} KPIs)", api_summary, raw_summary_time),
    ):
        budget = 1.3 * raw + 0.020
        verdict = "OK" if api <= budget else "OVER"
        print(
            f"{label:32s} api {api * 1000:8.1f} ms   raw SQL {raw * 1000:8.1f} ms   ratio {api / raw:5.2f}x   "
            f"goal <= {budget * 1000:.1f} ms: {verdict}"
        )


if __name__ == "__main__":
    main()
