"""Upkeep of the hourly and daily rollups (:class:`dashboard.models.MetricHour`, :class:`~dashboard.models.MetricDay`)
and the per-name totals: every write of metrics changes their cells in the same transaction, so a read never sees the
rollup and the raw rows disagree. Writers touch hours, then days, then totals, each in key order, so concurrent
writers wait for each other in one order and never deadlock.

A cell is ``(name, UTC hour, owner, source)``; ``source`` is 0 for metrics written through the API or the admin and
the upload's id for imported ones, so deleting an upload drops its cells whole. Inserts merge into cells (count and
sum add up, min/max/first/last compare); updates and deletes cannot be subtracted from a min, a max or a last, so the
cells they touch are recomputed from their raw rows, after locking the cells (an insert into the same cell waits).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q

from dashboard.models import Metric, MetricDay, MetricHour, MetricTotal
from dashboard.rollup import day_of, instant

HOUR = timedelta(hours=1)
BATCH = 500
TABLE = MetricHour._meta.db_table
COLUMNS = (
    "name",
    "hour",
    "owner_id",
    "source",
    "value_count",
    "value_sum",
    "value_min",
    "value_max",
    "first_timestamp",
    "last_timestamp",
    "last_id",
    "last_value",
)
KEY = COLUMNS[:4]
DAY_TABLE = MetricDay._meta.db_table
DAY_COLUMNS = ("name", "day", "owner_id", "source", *COLUMNS[4:])
DAY_KEY = DAY_COLUMNS[:4]
DAY = timedelta(days=1)
TOTALS_TABLE = MetricTotal._meta.db_table
TOTALS_COLUMNS = ("name", "owner_id", "source", "value_count", "first_timestamp", "last_timestamp")
TOTALS_KEY = TOTALS_COLUMNS[:3]
# (name, owner_id, source)
TotalKey = tuple[str, int, int]
# (name, hour, owner_id, source)
CellKey = tuple[str, datetime, int, int]


def hour_of(moment: datetime) -> datetime:
    """The UTC hour holding *moment* (aware), as an aware UTC datetime."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def cell_key(owner_id: int, name: str, timestamp: datetime, upload_id: int | None) -> CellKey:
    return (name, hour_of(timestamp), owner_id, upload_id or 0)


@dataclass
class Cell:
    """The aggregates of one cell; ``merge`` adds one metric."""

    count: int
    total: float
    low: float
    high: float
    first: datetime
    last_timestamp: datetime
    last_id: int
    last_value: float

    @classmethod
    def of(cls, *, value: float, timestamp: datetime, pk: int) -> Cell:
        return cls(1, value, value, value, timestamp, timestamp, pk, value)

    def merge(self, *, value: float, timestamp: datetime, pk: int) -> None:
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        if timestamp < self.first:
            self.first = timestamp
        if (timestamp, pk) > (self.last_timestamp, self.last_id):
            self.last_timestamp, self.last_id, self.last_value = timestamp, pk, value

    def absorb(self, other: Cell) -> None:
        """Fold another cell (of the same key at a coarser grain) into this one."""
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        self.first = min(self.first, other.first)
        if (other.last_timestamp, other.last_id) > (self.last_timestamp, self.last_id):
            self.last_timestamp, self.last_id, self.last_value = other.last_timestamp, other.last_id, other.last_value

    def copy(self) -> Cell:
        return Cell(**vars(self))

    def row(self, key: CellKey) -> tuple:
        return (
            *key,
            self.count,
            self.total,
            self.low,
            self.high,
            self.first,
            self.last_timestamp,
            self.last_id,
            self.last_value,
        )


def cells_of(rows: Iterable[tuple[int, str, datetime, int | None, int, float]]) -> dict[CellKey, Cell]:
    """Aggregate ``(owner_id, name, timestamp, upload_id, id, value)`` rows into cells."""
    cells: dict[CellKey, Cell] = {}
    for owner_id, name, timestamp, upload_id, pk, value in rows:
        key = cell_key(owner_id, name, timestamp, upload_id)
        moment = timestamp.astimezone(UTC)
        cell = cells.get(key)
        if cell is None:
            cells[key] = Cell.of(value=value, timestamp=moment, pk=pk)
        else:
            cell.merge(value=value, timestamp=moment, pk=pk)
    return cells


def days_of(cells: dict[CellKey, Cell]) -> dict[CellKey, Cell]:
    """Hour cells folded into day cells (``(name, UTC day, owner_id, source)``)."""
    days: dict[CellKey, Cell] = {}
    for (name, hour, owner_id, source), cell in cells.items():
        key = (name, day_of(hour), owner_id, source)
        day = days.get(key)
        if day is None:
            days[key] = cell.copy()
        else:
            day.absorb(cell)
    return days


def _batches(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _adapt(connection, row: tuple) -> list:
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(value) if isinstance(value, datetime) else value for value in row]


def _functions(connection) -> tuple[str, str]:
    if connection.vendor == "postgresql":
        return "LEAST", "GREATEST"
    if connection.vendor == "sqlite":
        return "MIN", "MAX"
    raise NotImplementedError(f"the metric rollup supports PostgreSQL and SQLite, not {connection.vendor}")


def _upsert(connection, rows: list[tuple], conflict: str, *, table=TABLE, columns=COLUMNS, key=KEY) -> None:
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for batch in _batches(rows):
            params = [value for row in batch for value in _adapt(connection, row)]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(batch))} "  # noqa: S608
                f"ON CONFLICT ({', '.join(key)}) {conflict}",
                params,
            )


def _merge_sql(connection, table: str = TABLE) -> str:
    least, greatest = _functions(connection)
    newer = f"(excluded.last_timestamp, excluded.last_id) > ({table}.last_timestamp, {table}.last_id)"
    return (
        "DO UPDATE SET "
        f"value_count = {table}.value_count + excluded.value_count, "
        f"value_sum = {table}.value_sum + excluded.value_sum, "
        f"value_min = {least}({table}.value_min, excluded.value_min), "
        f"value_max = {greatest}({table}.value_max, excluded.value_max), "
        f"first_timestamp = {least}({table}.first_timestamp, excluded.first_timestamp), "
        f"last_timestamp = CASE WHEN {newer} THEN excluded.last_timestamp ELSE {table}.last_timestamp END, "
        f"last_id = CASE WHEN {newer} THEN excluded.last_id ELSE {table}.last_id END, "
        f"last_value = CASE WHEN {newer} THEN excluded.last_value ELSE {table}.last_value END"
    )


REPLACE_SQL = "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[4:])


def totals_of(cells: Iterable[tuple[CellKey, int, datetime, datetime]]) -> dict[TotalKey, list]:
    """Fold ``(cell key, count, first, last)`` into ``{(name, owner_id, source): [count, first, last]}``."""
    totals: dict[TotalKey, list] = {}
    for (name, _, owner_id, source), count, first, last in cells:
        total = totals.get((name, owner_id, source))
        if total is None:
            totals[(name, owner_id, source)] = [count, first, last]
        else:
            total[0] += count
            total[1] = min(total[1], first)
            total[2] = max(total[2], last)
    return totals


def _merge_totals_sql(connection) -> str:
    least, greatest = _functions(connection)
    return (
        f"DO UPDATE SET value_count = {TOTALS_TABLE}.value_count + excluded.value_count, "
        f"first_timestamp = {least}({TOTALS_TABLE}.first_timestamp, excluded.first_timestamp), "
        f"last_timestamp = {greatest}({TOTALS_TABLE}.last_timestamp, excluded.last_timestamp)"
    )


def rollup_merge_totals(*, totals: dict[TotalKey, list], using: str = DEFAULT_DB_ALIAS) -> None:
    """Add new metrics' per-name totals (:func:`totals_of`) to the stored totals."""
    connection = connections[using]
    rows = [(*key, *totals[key]) for key in sorted(totals)]
    _upsert(
        connection,
        rows,
        _merge_totals_sql(connection),
        table=TOTALS_TABLE,
        columns=TOTALS_COLUMNS,
        key=TOTALS_KEY,
    )


def rollup_merge(*, cells: dict[CellKey, Cell], using: str = DEFAULT_DB_ALIAS) -> None:
    """Add new metrics, aggregated into *cells*, to the stored hours, days and totals (creating the missing ones)."""
    connection = connections[using]
    rows = [cells[key].row(key) for key in sorted(cells)]
    _upsert(connection, rows, _merge_sql(connection))
    days = days_of(cells)
    rows = [days[key].row(key) for key in sorted(days)]
    _upsert(connection, rows, _merge_sql(connection, DAY_TABLE), table=DAY_TABLE, columns=DAY_COLUMNS, key=DAY_KEY)
    totals = totals_of((key, cell.count, cell.first, cell.last_timestamp) for key, cell in cells.items())
    rollup_merge_totals(totals=totals, using=using)


def rollup_add(*, metrics: Iterable[Metric], using: str = DEFAULT_DB_ALIAS) -> None:
    """Merge just-created metrics (their ids known) into their cells."""
    rollup_merge(
        cells=cells_of((m.owner_id, m.name, m.timestamp, m.upload_id, m.pk, m.value) for m in metrics), using=using
    )


def _cell_filter(key: CellKey) -> Q:
    name, hour, owner_id, source = key
    condition = Q(owner_id=owner_id, name=name, timestamp__gte=hour, timestamp__lt=hour + HOUR)
    return condition & (Q(upload__isnull=True) if source == 0 else Q(upload_id=source))


def _keys_where(connection, keys: list, *, key=KEY) -> tuple[str, list]:
    one = "(" + " AND ".join(f"{column} = %s" for column in key) + ")"
    return " OR ".join([one] * len(keys)), [value for key in keys for value in _adapt(connection, key)]


def rollup_refresh(*, rows: Iterable[tuple], using: str = DEFAULT_DB_ALIAS) -> None:
    """Recompute, from raw rows, the cells holding *rows* ``(owner_id, name, timestamp, upload_id)`` (as stored
    before and after a change). Locks the cells first, so concurrent writers of a cell take turns."""
    keys = sorted({cell_key(*row) for row in rows})
    if not keys:
        return
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):
        # A placeholder for missing cells, so that there is a row to lock; a concurrent insert waits for it.
        placeholders = [(*key, 0, 0.0, 0.0, 0.0, key[1], key[1], 0, 0.0) for key in keys]
        _upsert(connection, placeholders, "DO NOTHING")
        if connection.vendor == "postgresql":  # SQLite writers hold the whole database already
            with connection.cursor() as cursor:
                for batch in _batches(keys):
                    where, params = _keys_where(connection, batch)
                    cursor.execute(f"SELECT 1 FROM {TABLE} WHERE {where} FOR UPDATE", params)  # noqa: S608 (as above)
        fresh: dict[CellKey, Cell] = {}
        for batch in _batches(keys, 100):
            condition = Q()
            for key in batch:
                condition |= _cell_filter(key)
            raw = Metric.objects.using(using).filter(condition).order_by()
            fresh.update(cells_of(raw.values_list("owner_id", "name", "timestamp", "upload_id", "id", "value")))
        empty = [key for key in keys if key not in fresh]
        if fresh:
            _upsert(connection, [cell.row(key) for key, cell in sorted(fresh.items())], REPLACE_SQL)
        with connection.cursor() as cursor:
            for batch in _batches(empty):
                where, params = _keys_where(connection, batch)
                cursor.execute(f"DELETE FROM {TABLE} WHERE {where}", params)  # noqa: S608 (as above)
        _refresh_days(
            connection, sorted({(name, day_of(hour), owner_id, source) for name, hour, owner_id, source in keys})
        )
        _refresh_totals(connection, sorted({(name, owner_id, source) for name, _, owner_id, source in keys}))


def _day_sql(connection) -> str:
    _functions(connection)
    return DAY_OF_HOUR_SQL[connection.vendor]


DAY_OF_HOUR_SQL = {
    "postgresql": "date_trunc('day', hour, 'UTC')",
    "sqlite": "substr(hour, 1, 10) || ' 00:00:00'",
}
DAYS_FROM_HOURS_SQL = f"""
SELECT name, day, owner_id, source, n, total, low, high, first_ts, last_timestamp, last_id, last_value FROM (
    SELECT name, {{day}} AS day, owner_id, source, last_timestamp, last_id, last_value,
        SUM(value_count) OVER cells AS n, SUM(value_sum) OVER cells AS total, MIN(value_min) OVER cells AS low,
        MAX(value_max) OVER cells AS high, MIN(first_timestamp) OVER cells AS first_ts,
        ROW_NUMBER() OVER (PARTITION BY name, {{day}}, owner_id, source
                           ORDER BY last_timestamp DESC, last_id DESC) AS rank_in_day
    FROM {TABLE} WHERE {{where}}
    WINDOW cells AS (PARTITION BY name, {{day}}, owner_id, source)
) AS folded WHERE rank_in_day = 1
"""  # noqa: S608 (constant SQL)
DAY_REPLACE_SQL = "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in DAY_COLUMNS[4:])


def _refresh_days(connection, keys: list[CellKey]) -> None:
    """Recompute the day cells *keys* from their (already refreshed) hour cells, after locking them like the hours."""
    placeholders = [(*key, 0, 0.0, 0.0, 0.0, key[1], key[1], 0, 0.0) for key in keys]
    _upsert(connection, placeholders, "DO NOTHING", table=DAY_TABLE, columns=DAY_COLUMNS, key=DAY_KEY)
    with connection.cursor() as cursor:
        for batch in _batches(keys, 100):
            where, params = _keys_where(connection, batch, key=DAY_KEY)
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT 1 FROM {DAY_TABLE} WHERE {where} FOR UPDATE", params)  # noqa: S608
            hours = " OR ".join(
                ["(name = %s AND owner_id = %s AND source = %s AND hour >= %s AND hour < %s)"] * len(batch)
            )
            hour_params = []
            for name, day, owner_id, source in batch:
                hour_params += _adapt(connection, (name, owner_id, source, day, day + DAY))
            cursor.execute(DAYS_FROM_HOURS_SQL.format(day=_day_sql(connection), where=hours), hour_params)
            fresh = {}
            for name, day, owner_id, source, *values in cursor.fetchall():
                fresh[(name, instant(day), owner_id, source)] = values
            if fresh:
                rows = [(*key, *values) for key, values in sorted(fresh.items())]
                _upsert(connection, rows, DAY_REPLACE_SQL, table=DAY_TABLE, columns=DAY_COLUMNS, key=DAY_KEY)
            gone = [key for key in batch if key not in fresh]
            if gone:
                where, params = _keys_where(connection, gone, key=DAY_KEY)
                cursor.execute(f"DELETE FROM {DAY_TABLE} WHERE {where}", params)  # noqa: S608


def rollup_build_days(*, source: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Fold the hour cells of *source* (an upload whose cells were just written) into its new day cells."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DAY_TABLE} ({', '.join(DAY_COLUMNS)}) "
            + DAYS_FROM_HOURS_SQL.format(day=_day_sql(connection), where="source = %s"),
            [source],
        )


def _refresh_totals(connection, keys: list[TotalKey]) -> None:
    """Recompute per-name totals from the (already refreshed) cells, after locking them like the cells."""
    placeholders = [(*key, 0, key_hour, key_hour) for key, key_hour in ((key, _EPOCH) for key in keys)]
    _upsert(connection, placeholders, "DO NOTHING", table=TOTALS_TABLE, columns=TOTALS_COLUMNS, key=TOTALS_KEY)
    with connection.cursor() as cursor:
        for batch in _batches(keys):
            where, params = _keys_where(connection, batch, key=TOTALS_KEY)
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT 1 FROM {TOTALS_TABLE} WHERE {where} FOR UPDATE", params)  # noqa: S608
            cursor.execute(
                f"SELECT name, owner_id, source, SUM(value_count), MIN(first_timestamp), MAX(last_timestamp) "  # noqa: S608
                f"FROM {TABLE} WHERE {where} GROUP BY name, owner_id, source",
                params,
            )
            fresh = {(name, owner_id, source): row for name, owner_id, source, *row in cursor.fetchall()}
            if fresh:
                rows = [(*key, int(count), first, last) for key, (count, first, last) in sorted(fresh.items())]
                _upsert(
                    connection, rows, TOTALS_REPLACE_SQL, table=TOTALS_TABLE, columns=TOTALS_COLUMNS, key=TOTALS_KEY
                )
            gone = [key for key in batch if key not in fresh]
            if gone:
                where, params = _keys_where(connection, gone, key=TOTALS_KEY)
                cursor.execute(f"DELETE FROM {TOTALS_TABLE} WHERE {where}", params)  # noqa: S608


TOTALS_REPLACE_SQL = "DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}" for column in TOTALS_COLUMNS[3:])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rollup_drop_upload(*, upload_id: int, using: str = DEFAULT_DB_ALIAS) -> int:
    """Remove the cells of an upload's metrics (its metrics are being deleted with it): hours, days, then totals, the
    order every writer takes; returns the number of hour cells."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE source = %s", [upload_id])  # noqa: S608 (a constant table name)
        cells = cursor.rowcount
        cursor.execute(f"DELETE FROM {DAY_TABLE} WHERE source = %s", [upload_id])  # noqa: S608 (constant name)
        cursor.execute(f"DELETE FROM {TOTALS_TABLE} WHERE source = %s", [upload_id])  # noqa: S608 (constant name)
        return cells


COPY_CELLS_SQL = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_CELLS_TYPES = [
    "text",
    "timestamptz",
    "int8",
    "int8",
    "int8",
    "float8",
    "float8",
    "float8",
    "timestamptz",
    "timestamptz",
    "int8",
    "float8",
]


COPY_DAYS_SQL = f"COPY {DAY_TABLE} ({', '.join(DAY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def rollup_copy_cells(*, rows: Iterable[tuple], using: str = DEFAULT_DB_ALIAS) -> None:
    """PostgreSQL: COPY brand-new hour cells (an import's, whose keys no other writer can hold) into the rollup, and
    the day cells they fold into."""
    days: dict[tuple, list] = {}
    get = days.get
    with connections[using].cursor() as cursor:
        with cursor.cursor.copy(COPY_CELLS_SQL) as copy:
            copy.set_types(COPY_CELLS_TYPES)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
                name, hour, owner_id, source, n, total, low, high, first, last, last_id, last_value = row
                key = (name, hour.date(), owner_id, source)  # date(): five times cheaper than replace()
                day = get(key)
                if day is None:
                    days[key] = [n, total, low, high, first, last, last_id, last_value]
                    continue
                day[0] += n
                day[1] += total
                if low < day[2]:
                    day[2] = low
                if high > day[3]:
                    day[3] = high
                if first < day[4]:
                    day[4] = first
                if last > day[5] or (last == day[5] and last_id > day[6]):
                    day[5], day[6], day[7] = last, last_id, last_value
        with cursor.cursor.copy(COPY_DAYS_SQL) as copy:
            copy.set_types(COPY_CELLS_TYPES)
            write_row = copy.write_row
            for (name, date, owner_id, source), values in days.items():
                write_row((name, datetime.combine(date, time(), UTC), owner_id, source, *values))


# --- Rebuild and verification against the raw rows ----------------------------------------------------------------

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
    mismatches: list[tuple[str, str, datetime, int, int]]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _expected_sql(connection, grain: dict[str, str] = HOUR_SQL) -> str:
    _functions(connection)
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
        cells = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {DAY_TABLE} ({', '.join(DAY_COLUMNS)}) "
            + DAYS_FROM_HOURS_SQL.format(day=_day_sql(connection), where="1 = 1")
        )
        cursor.execute(TOTALS_BUILD_SQL)
        return cells


def rollup_verify(*, using: str = DEFAULT_DB_ALIAS, limit: int = 20) -> RollupCheck:
    """Compare the stored rollup with the one the raw rows make (in one snapshot); lists up to *limit* bad cells
    as ``(kind, name, hour, owner_id, source)`` with kind ``missing``, ``extra`` or ``different``."""
    connection = connections[using]
    _, greatest = _functions(connection)
    expected_sql = _expected_sql(connection)
    nested = connection.in_atomic_block
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not nested:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SELECT COUNT(*) FROM ({expected_sql}) AS expected")  # noqa: S608 (constant SQL)
        (expected,) = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")  # noqa: S608 (a constant table name)
        (stored,) = cursor.fetchone()
        mismatches = []
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
