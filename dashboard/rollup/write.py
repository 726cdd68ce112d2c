"""Upkeep of the hourly and daily rollups and the per-name totals: every write of metrics changes their cells in the
same transaction, so a read never sees the rollup and the raw rows disagree. Writers touch hours, then days, then
totals, each in key order, so concurrent writers wait for each other in one order and never deadlock.

Inserts merge into cells (count and sum add up, min/max/first/last compare); updates and deletes cannot be subtracted
from a min, a max or a last, so the cells they touch are recomputed from their raw rows, after locking the cells (an
insert into the same cell waits). An import's cells are folded while its rows stream (:class:`ImportCells`) and
written once; deleting an upload drops its cells whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import Any, Protocol, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Model, Q, QuerySet

from dashboard.rollup.cells import (
    COLUMNS,
    COPY_CELLS_TYPES,
    DAY,
    DAY_COLUMNS,
    DAY_KEY,
    DAY_TABLE,
    HOUR,
    KEY,
    TABLE,
    TOTALS_COLUMNS,
    TOTALS_KEY,
    TOTALS_TABLE,
    Cell,
    CellKey,
    CellList,
    CellRow,
    TotalKey,
    TotalList,
    cell_key,
    cells_of,
    day_of,
    days_of,
    fold_cell,
    hour_of,
    instant,
    totals_of,
)

BATCH = 500

# A value bound into the rollup's SQL (a key or cell column, or a datetime adapted to the database's text).
SqlValue = str | int | float | datetime | None
# A stored metric as the cells see it: (owner_id, name, timestamp, upload_id).
StoredRow = tuple[int, str, datetime, int | None]

_T = TypeVar("_T")


class StoredMetric(Protocol):
    """What the upkeep reads of a metric just written (a ``Metric``)."""

    pk: int
    owner_id: int
    name: str
    timestamp: datetime
    upload_id: int | None
    value: float


def _batches(items: Sequence[_T], size: int = BATCH) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _adapt(connection: BaseDatabaseWrapper, row: Iterable[SqlValue]) -> list[SqlValue]:
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(value) if isinstance(value, datetime) else value for value in row]


def least_greatest(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    if connection.vendor == "postgresql":
        return "LEAST", "GREATEST"
    if connection.vendor == "sqlite":
        return "MIN", "MAX"
    raise NotImplementedError(f"the metric rollup supports PostgreSQL and SQLite, not {connection.vendor}")


def _upsert(
    connection: BaseDatabaseWrapper,
    rows: Sequence[tuple[SqlValue, ...]],
    conflict: str,
    *,
    table: str = TABLE,
    columns: tuple[str, ...] = COLUMNS,
    key: tuple[str, ...] = KEY,
) -> None:
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for batch in _batches(rows):
            params = [value for row in batch for value in _adapt(connection, row)]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(batch))} "  # noqa: S608
                f"ON CONFLICT ({', '.join(key)}) {conflict}",
                params,
            )


def _merge_sql(connection: BaseDatabaseWrapper, table: str = TABLE) -> str:
    least, greatest = least_greatest(connection)
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


def _merge_totals_sql(connection: BaseDatabaseWrapper) -> str:
    least, greatest = least_greatest(connection)
    return (
        f"DO UPDATE SET value_count = {TOTALS_TABLE}.value_count + excluded.value_count, "
        f"first_timestamp = {least}({TOTALS_TABLE}.first_timestamp, excluded.first_timestamp), "
        f"last_timestamp = {greatest}({TOTALS_TABLE}.last_timestamp, excluded.last_timestamp)"
    )


def rollup_merge_totals(*, totals: dict[TotalKey, TotalList], using: str = DEFAULT_DB_ALIAS) -> None:
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


def rollup_add(*, metrics: Iterable[StoredMetric], using: str = DEFAULT_DB_ALIAS) -> None:
    """Merge just-created metrics (their ids known) into their cells."""
    rollup_merge(
        cells=cells_of((m.owner_id, m.name, m.timestamp, m.upload_id, m.pk, m.value) for m in metrics), using=using
    )


def _cell_filter(key: CellKey) -> Q:
    name, hour, owner_id, source = key
    condition = Q(owner_id=owner_id, name=name, timestamp__gte=hour, timestamp__lt=hour + HOUR)
    return condition & (Q(upload__isnull=True) if source == 0 else Q(upload_id=source))


def _keys_where(
    connection: BaseDatabaseWrapper, keys: Sequence[tuple[SqlValue, ...]], *, key: tuple[str, ...] = KEY
) -> tuple[str, list[SqlValue]]:
    one = "(" + " AND ".join(f"{column} = %s" for column in key) + ")"
    return " OR ".join([one] * len(keys)), [value for key in keys for value in _adapt(connection, key)]


def rollup_refresh(*, rows: Iterable[StoredRow], raw: QuerySet[Model], using: str = DEFAULT_DB_ALIAS) -> None:
    """Recompute, from the raw rows *raw* (every stored metric), the cells holding *rows* ``(owner_id, name,
    timestamp, upload_id)`` (as stored before and after a change). Locks the cells first, so concurrent writers of a
    cell take turns."""
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
            metrics = raw.using(using).filter(condition).order_by()
            fresh.update(cells_of(metrics.values_list("owner_id", "name", "timestamp", "upload_id", "id", "value")))
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


def day_of_hour_sql(connection: BaseDatabaseWrapper) -> str:
    least_greatest(connection)
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


def _refresh_days(connection: BaseDatabaseWrapper, keys: list[CellKey]) -> None:
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
            hour_params: list[SqlValue] = []
            for name, day, owner_id, source in batch:
                hour_params += _adapt(connection, (name, owner_id, source, day, day + DAY))
            cursor.execute(DAYS_FROM_HOURS_SQL.format(day=day_of_hour_sql(connection), where=hours), hour_params)
            fresh: dict[CellKey, list[Any]] = {}
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
            + DAYS_FROM_HOURS_SQL.format(day=day_of_hour_sql(connection), where="source = %s"),
            [source],
        )


def _refresh_totals(connection: BaseDatabaseWrapper, keys: list[TotalKey]) -> None:
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
        cells: int = cursor.rowcount
        cursor.execute(f"DELETE FROM {DAY_TABLE} WHERE source = %s", [upload_id])  # noqa: S608 (constant name)
        cursor.execute(f"DELETE FROM {TOTALS_TABLE} WHERE source = %s", [upload_id])  # noqa: S608 (constant name)
        return cells


COPY_CELLS_SQL = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_DAYS_SQL = f"COPY {DAY_TABLE} ({', '.join(DAY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def rollup_copy_cells(*, rows: Iterable[CellRow], using: str = DEFAULT_DB_ALIAS) -> None:
    """PostgreSQL: COPY brand-new hour cells (an import's, whose keys no other writer can hold) into the rollup, and
    the day cells they fold into."""
    days: dict[tuple[str, date, int, int], CellList] = {}
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
                else:
                    fold_cell(day, n, total, low, high, first, last, last_id, last_value)
        with cursor.cursor.copy(COPY_DAYS_SQL) as copy:
            copy.set_types(COPY_CELLS_TYPES)
            write_row = copy.write_row
            for (name, date, owner_id, source), values in days.items():
                write_row((name, datetime.combine(date, time(), UTC), owner_id, source, *values))


# --- An import's cells: folded while its rows stream into COPY, written once -----------------------------------

# Cells held in memory while streaming; beyond this they are spilled to a temporary table (flat memory).
CELLS_IN_MEMORY = 50_000
SPILL_TABLE = "dashboard_import_cells"
SPILL_COLUMNS = "name, hour, n, total, low, high, first_ts, last_ts, last_row, last_value"
SPILL_TYPES = ["text", "timestamptz", *COPY_CELLS_TYPES[4:10], "int8", "float8"]


class ImportCells:
    """The hour cells of one upload's rows (PostgreSQL), folded as the rows stream: ``{(name, UTC hour): [count,
    sum, min, max, first, last timestamp, last row number, last value]}``. Rows are numbered from 1 in file order;
    :meth:`write` turns the numbers into the ids COPY gave. When the cells outgrow CELLS_IN_MEMORY, the caller pauses
    its COPY and :meth:`spill` moves them to a temporary table; a cell that comes back after its spill is merged at
    the end."""

    def __init__(self, *, owner_id: int, source: int) -> None:
        self.owner_id, self.source = owner_id, source
        self.cells: dict[tuple[str, datetime], CellList] = {}
        self._spilled: set[int] = set()  # hashes of spilled cells' keys (a collision only costs the merge)
        self._returning = False
        self._totals: dict[str, TotalList] = {}  # {name: [count, first, last]}: the upload's MetricTotal rows

    def add(self, name: str, value: float, timestamp: datetime, row: int) -> bool:
        """Fold row number *row*; True when memory is full (spill before adding more)."""
        moment = timestamp.astimezone(UTC)
        key = (name, hour_of(moment))
        cell = self.cells.get(key)
        if cell is None:
            self.cells[key] = [1, value, value, value, moment, moment, row, value]
            if self._spilled and hash(key) in self._spilled:
                self._returning = True
            return len(self.cells) >= CELLS_IN_MEMORY
        fold_cell(cell, 1, value, value, value, moment, moment, row, value)
        return False

    def spill(self, cursor: CursorWrapper) -> None:
        """Move the cells in memory to the temporary table (created on the first spill, dropped at commit)."""
        self._fold_totals()
        if not self._spilled:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {SPILL_TABLE} (name text, hour timestamptz, n int8, "
                "total float8, low float8, high float8, first_ts timestamptz, last_ts timestamptz, last_row int8, "
                "last_value float8) ON COMMIT DROP"
            )
            cursor.execute(f"TRUNCATE {SPILL_TABLE}")
        with cursor.cursor.copy(f"COPY {SPILL_TABLE} ({SPILL_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(SPILL_TYPES)
            for (name, hour), cell in self.cells.items():
                copy.write_row((name, hour, *cell))
        self._spilled.update(hash(key) for key in self.cells)
        self.cells.clear()

    def write(self, cursor: CursorWrapper, *, first_id: int, contiguous: bool, using: str = DEFAULT_DB_ALIAS) -> None:
        """Write the cells, days and totals. Row *k* has id ``first_id + k`` when COPY's ids were *contiguous*
        (no other writer took ids meanwhile); otherwise the upload's ids are read back in order."""
        if self._spilled:
            self.spill(cursor)
            self._write_spilled(cursor, first_id=first_id if contiguous else None)
            rollup_build_days(source=self.source, using=using)
        else:
            self._fold_totals()
            ids: list[int] | None = None
            if not contiguous:
                cursor.execute("SELECT id FROM dashboard_metric WHERE upload_id = %s ORDER BY id", [self.source])
                ids = [row[0] for row in cursor.fetchall()]
            owner, source = self.owner_id, self.source
            rollup_copy_cells(
                rows=(
                    (
                        name,
                        hour,
                        owner,
                        source,
                        n,
                        total,
                        low,
                        high,
                        first,
                        last,
                        ids[k - 1] if ids else first_id + k,
                        v,
                    )
                    for (name, hour), (n, total, low, high, first, last, k, v) in self.cells.items()
                ),
                using=using,
            )
        totals = {(name, self.owner_id, self.source): total for name, total in self._totals.items()}
        rollup_merge_totals(totals=totals, using=using)

    def _fold_totals(self) -> None:
        totals = self._totals
        for (name, _), (count, _, _, _, first, last, _, _) in self.cells.items():
            current = totals.get(name)
            if current is None:
                totals[name] = [count, first, last]
            else:
                current[0] += count
                current[1] = min(current[1], first)
                current[2] = max(current[2], last)

    def _write_spilled(self, cursor: CursorWrapper, *, first_id: int | None) -> None:
        """The spilled cells into the rollup: row numbers become ids (``first_id + k``, or read back when there are
        gaps), and a cell spilled more than once is merged (counts and sums add up, ``last`` by timestamp then row)."""
        if self._returning:
            cells = (
                f"SELECT g.name, g.hour, g.n, g.total, g.low, g.high, g.first_ts, l.last_ts, l.last_row, l.last_value "  # noqa: S608
                f"FROM (SELECT name, hour, SUM(n) AS n, SUM(total) AS total, MIN(low) AS low, MAX(high) AS high, "
                f"MIN(first_ts) AS first_ts FROM {SPILL_TABLE} GROUP BY name, hour) AS g "
                f"JOIN (SELECT DISTINCT ON (name, hour) name, hour, last_ts, last_row, last_value FROM {SPILL_TABLE} "
                f"ORDER BY name, hour, last_ts DESC, last_row DESC) AS l ON l.name = g.name AND l.hour = g.hour"
            )
        else:
            cells = f"SELECT {SPILL_COLUMNS} FROM {SPILL_TABLE}"  # noqa: S608 (constant SQL)
        if first_id is not None:
            ids, last_id = "", "c.last_row + %s"
            params = [self.owner_id, self.source, first_id]
        else:
            ids = (
                "JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position FROM dashboard_metric "
                "WHERE upload_id = %s) AS r ON r.position = c.last_row"
            )
            last_id = "r.id"
            params = [self.owner_id, self.source, self.source]
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) "  # noqa: S608 (constant SQL)
            f"SELECT c.name, c.hour, %s, %s, c.n, c.total, c.low, c.high, c.first_ts, c.last_ts, {last_id}, "
            f"c.last_value FROM ({cells}) AS c {ids}",
            params,
        )
