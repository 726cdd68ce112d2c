"""The rollup's cell format, in one place: a cell is the aggregates of one owner's metrics of one name and source
(0 for metrics written through the API or the admin, else the upload that imported them) over one UTC hour or day,
or over all time (the per-name totals). Here are the key, the columns and their COPY types, the in-memory cell that
writers fold metrics into, the columns (``k_*``) under which the composed reads see a cell or a raw row, and the
conversions of the timestamps the databases give back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from django.db.models import BigIntegerField, F, Value
from django.db.models.expressions import Combinable

from dashboard.rollup.models import MetricDay, MetricHour, MetricTotal

HOUR = timedelta(hours=1)
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


# A cell as a row of COLUMNS (or DAY_COLUMNS): its key, then count, sum, min, max, first timestamp, last timestamp,
# last id, last value.
CellRow = tuple[str, datetime, int, int, int, float, float, float, datetime, datetime, int, float]


# A cell as the import folds it, ``[count, sum, min, max, first, last timestamp, last id, last value]``, and a
# per-name total, ``[count, first, last]``: mutable lists of mixed types (cheaper than a class over millions of rows),
# so their items are Any.
CellList = list[Any]
TotalList = list[Any]


def hour_of(moment: datetime) -> datetime:
    """The UTC hour holding *moment* (aware), as an aware UTC datetime."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    """The UTC day holding *moment* (aware), as an aware UTC datetime at midnight."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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

    def row(self, key: CellKey) -> CellRow:
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


def totals_of(cells: Iterable[tuple[CellKey, int, datetime, datetime]]) -> dict[TotalKey, TotalList]:
    """Fold ``(cell key, count, first, last)`` into ``{(name, owner_id, source): [count, first, last]}``."""
    totals: dict[TotalKey, TotalList] = {}
    for (name, _, owner_id, source), count, first, last in cells:
        total = totals.get((name, owner_id, source))
        if total is None:
            totals[(name, owner_id, source)] = [count, first, last]
        else:
            total[0] += count
            total[1] = min(total[1], first)
            total[2] = max(total[2], last)
    return totals


def fold_cell(
    cell: CellList,
    n: int,
    total: float,
    low: float,
    high: float,
    first: datetime,
    last: datetime,
    last_id: int,
    value: float,
) -> None:
    """Fold the aggregates of a cell (or of one row: ``n`` 1) into *cell*, a list ``[count, sum, min, max, first,
    last timestamp, last id, last value]`` of the same key; ``last`` goes to the later timestamp, ties to the higher
    id. The list form is the import's: cheaper than :class:`Cell` over millions of rows."""
    cell[0] += n
    cell[1] += total
    if low < cell[2]:
        cell[2] = low
    if high > cell[3]:
        cell[3] = high
    if first < cell[4]:
        cell[4] = first
    if last > cell[5] or (last == cell[5] and last_id > cell[6]):
        cell[5], cell[6], cell[7] = last, last_id, value


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


def wall_clock(value: str | datetime, tz: tzinfo) -> datetime:
    """A bucket start as the database gives it (naive wall-clock time; text on SQLite), read in *tz*."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None).replace(tzinfo=tz, fold=0)


def instant(value: str | datetime) -> datetime:
    """A stored timestamp as the database gives it (aware; naive UTC text on SQLite), as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def cell_columns(bucket_expression: Combinable) -> dict[str, Combinable]:
    """The composed queries' columns (``k_*``) of a rollup cell (hour or day), its bucket start *bucket_expression*."""
    return {
        "k_name": F("name"),
        "k_t": bucket_expression,
        "k_sum": F("value_sum"),
        "k_count": F("value_count"),
        "k_min": F("value_min"),
        "k_max": F("value_max"),
        "k_first": F("first_timestamp"),
        "k_last_ts": F("last_timestamp"),
        "k_last_id": F("last_id"),
        "k_last": F("last_value"),
    }


# The columns under which the composed reads see every part (day cells, hour cells, raw rows), in this order.
COMPOSED_COLUMNS = ("k_name", "k_t", "k_sum", "k_count", "k_min", "k_max", "k_last_ts", "k_last_id", "k_last")


def raw_columns(bucket_expression: Combinable) -> dict[str, Combinable]:
    """The composed queries' columns (``k_*``) of one raw metric row, its bucket start *bucket_expression*: a cell
    of one."""
    return {
        "k_name": F("name"),
        "k_t": bucket_expression,
        "k_sum": F("value"),
        "k_count": Value(1, output_field=BigIntegerField()),
        "k_min": F("value"),
        "k_max": F("value"),
        "k_last_ts": F("timestamp"),
        "k_last_id": F("id"),
        "k_last": F("value"),
    }
