"""Checking and rebuilding the rollups against the raw metrics (``manage.py metrics_rollup verify|rebuild``): the
cells the raw rows make, computed in SQL in one snapshot, compared with or written over the stored ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from dashboard.rollup.cells import COLUMNS, DAY_COLUMNS, DAY_TABLE, TABLE, TOTALS_COLUMNS, TOTALS_TABLE
from dashboard.rollup.write import DAYS_FROM_HOURS_SQL, day_of_hour_sql, least_greatest

HOUR_SQL = {
    "postgresql": "date_trunc('hour', \"timestamp\", 'UTC')",
    "sqlite": "substr(\"timestamp\", 1, 13) || ':00:00'",
}


DAY_SQL = {
    "postgresql": "date_trunc('day', \"timestamp\", 'UTC')",
    "sqlite": "substr(\"timestamp\", 1, 10) || ' 00:00:00'",
}


EXPECTED_SQL = """
SELECT name, hour, owner_id, source, n, total, magnitude, low, high, first_ts, "timestamp" AS last_ts, id AS last_id,
    value AS last_value FROM (
    SELECT name, {hour} AS hour, owner_id, COALESCE(upload_id, 0) AS source, "timestamp", id, value,
        COUNT(*) OVER cell AS n, SUM(value) OVER cell AS total, SUM(ABS(value)) OVER cell AS magnitude,
        MIN(value) OVER cell AS low, MAX(value) OVER cell AS high, MIN("timestamp") OVER cell AS first_ts,
        ROW_NUMBER() OVER (PARTITION BY name, {hour}, owner_id, COALESCE(upload_id, 0)
                           ORDER BY "timestamp" DESC, id DESC) AS rank_in_cell
    FROM dashboard_metric
    WINDOW cell AS (PARTITION BY name, {hour}, owner_id, COALESCE(upload_id, 0))
) ranked WHERE rank_in_cell = 1
"""


# Sums are compared within a rounding bound (see the README: float sums depend on the order of addition);
# everything else exactly.
SUM_TOLERANCE = 1e-9


VERIFY_SQL = """
WITH expected AS ({expected})
SELECT COALESCE(e.name, r.name), COALESCE(e.hour, r.{column}), COALESCE(e.owner_id, r.owner_id),
    COALESCE(e.source, r.source), CASE WHEN r.name IS NULL THEN 'missing' WHEN e.name IS NULL THEN 'extra'
    ELSE 'different' END
FROM expected e FULL OUTER JOIN {table} r
    ON r.name = e.name AND r.{column} = e.hour AND r.owner_id = e.owner_id AND r.source = e.source
WHERE e.name IS NULL OR r.name IS NULL OR e.n <> r.value_count OR e.low <> r.value_min OR e.high <> r.value_max
    OR e.first_ts <> r.first_timestamp OR e.last_ts <> r.last_timestamp OR e.last_id <> r.last_id
    OR e.last_value <> r.last_value OR ABS(e.total - r.value_sum) > {tolerance} * {greatest}(1, e.magnitude)
"""


TOTALS_BUILD_SQL = (
    f"INSERT INTO {TOTALS_TABLE} ({', '.join(TOTALS_COLUMNS)}) SELECT name, owner_id, source, SUM(value_count), "  # noqa: S608
    f"MIN(first_timestamp), MAX(last_timestamp) FROM {TABLE} GROUP BY name, owner_id, source"
)


TOTALS_VERIFY_SQL = f"""
WITH expected AS (
    SELECT name, owner_id, COALESCE(upload_id, 0) AS source, COUNT(*) AS n, MIN("timestamp") AS first_ts,
        MAX("timestamp") AS last_ts FROM dashboard_metric GROUP BY name, owner_id, COALESCE(upload_id, 0)
)
SELECT COALESCE(e.name, t.name), COALESCE(e.owner_id, t.owner_id), COALESCE(e.source, t.source),
    CASE WHEN t.name IS NULL THEN 'missing total' WHEN e.name IS NULL THEN 'extra total' ELSE 'different total' END
FROM expected e FULL OUTER JOIN {TOTALS_TABLE} t ON t.name = e.name AND t.owner_id = e.owner_id AND t.source = e.source
WHERE e.name IS NULL OR t.name IS NULL OR e.n <> t.value_count OR e.first_ts <> t.first_timestamp
    OR e.last_ts <> t.last_timestamp
"""  # noqa: S608 (constant SQL)


@dataclass(frozen=True)
class RollupCheck:
    """What :func:`rollup_verify` found: the cells the raw rows make, the cells stored, and the wrong ones."""

    expected: int
    stored: int
    mismatches: list[tuple[str, str, datetime | None, int, int]]  # no hour for a per-name total

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _expected_sql(connection: BaseDatabaseWrapper, grain: dict[str, str] = HOUR_SQL) -> str:
    least_greatest(connection)
    return EXPECTED_SQL.format(hour=grain[connection.vendor])


def rollup_rebuild(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Empty the rollup and build it again from every metric, in one transaction; returns the number of cells."""
    connection = connections[using]
    columns = ", ".join(COLUMNS)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 (a constant table name)
        cursor.execute(f"DELETE FROM {DAY_TABLE}")  # noqa: S608 (a constant table name)
        cursor.execute(f"DELETE FROM {TOTALS_TABLE}")  # noqa: S608 (a constant table name)
        cursor.execute(
            f"INSERT INTO {TABLE} ({columns}) SELECT name, hour, owner_id, source, n, total, low, high, first_ts, "  # noqa: S608
            f"last_ts, last_id, last_value FROM ({_expected_sql(connection)}) AS expected"
        )
        cells: int = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {DAY_TABLE} ({', '.join(DAY_COLUMNS)}) "
            + DAYS_FROM_HOURS_SQL.format(day=day_of_hour_sql(connection), where="1 = 1")
        )
        cursor.execute(TOTALS_BUILD_SQL)
        return cells


def rollup_verify(*, using: str = DEFAULT_DB_ALIAS, limit: int = 20) -> RollupCheck:
    """Compare the stored rollup with the one the raw rows make (in one snapshot); lists up to *limit* bad cells
    as ``(kind, name, hour, owner_id, source)`` with kind ``missing``, ``extra`` or ``different``."""
    connection = connections[using]
    _, greatest = least_greatest(connection)
    expected_sql = _expected_sql(connection)
    nested = connection.in_atomic_block
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not nested:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SELECT COUNT(*) FROM ({expected_sql}) AS expected")  # noqa: S608 (constant SQL)
        (expected,) = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")  # noqa: S608 (a constant table name)
        (stored,) = cursor.fetchone()
        mismatches: list[tuple[str, str, datetime | None, int, int]] = []
        for label, table, column, grain in (("", TABLE, "hour", HOUR_SQL), ("day ", DAY_TABLE, "day", DAY_SQL)):
            verify = VERIFY_SQL.format(
                expected=_expected_sql(connection, grain),
                table=table,
                column=column,
                tolerance=SUM_TOLERANCE,
                greatest=greatest,
            )
            cursor.execute(verify + f" LIMIT {int(limit)}")
            mismatches += [(label + kind, *cell) for *cell, kind in cursor.fetchall()]
        cursor.execute(TOTALS_VERIFY_SQL + f" LIMIT {int(limit)}")
        mismatches += [(kind, name, None, owner_id, source) for name, owner_id, source, kind in cursor.fetchall()]
    return RollupCheck(expected=expected, stored=stored, mismatches=mismatches)
