"""Reading metric CSV files: format detection, header, delimiter, and row validation, streamed.

Pure parsing, no database: :func:`inspect_file` checks what can be known from the first bytes, and
:func:`iter_rows` streams validated ``(name, value, timestamp)`` tuples while it collects row errors.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import IO

from dashboard.metrics.csv_format import unescape_text_cell

REQUIRED_COLUMNS = ("name", "value", "timestamp")
DELIMITERS = (",", ";", "\t")
SAMPLE_BYTES = 64 * 1024
SAMPLE_LINES = 50
MAX_REPORTED_ERRORS = 100
NAME_MAX_LENGTH = 255
ZIP_MAGIC = b"PK\x03\x04"


class FileUnreadable(Exception):
    """The file cannot be read as a metrics CSV at all; the message says why."""


class UnsupportedFormat(Exception):
    """A file in a format we recognise but do not import (a zip, e.g. an .xlsx workbook)."""


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    columns: tuple[str, ...]

    def index(self, column: str) -> int:
        return self.columns.index(column)


@dataclass
class RowErrors:
    """Row errors: the first MAX_REPORTED_ERRORS in full, and how many there were in all."""

    items: list[dict] = field(default_factory=list)
    count: int = 0

    def add(self, row: int, column: str | None, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"row": row, "column": column, "message": message})


def _decoded_sample(raw: bytes) -> str:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(raw, final=len(raw) < SAMPLE_BYTES)
    except UnicodeDecodeError as exc:
        raise FileUnreadable(f"The file is not UTF-8 text (undecodable byte at offset {exc.start}).") from None


def _header_columns(line: str, delimiter: str) -> list[str]:
    return [column.strip().lower() for column in next(csv.reader([line], delimiter=delimiter), [])]


def inspect_file(binary: IO[bytes]) -> CsvLayout:
    """Decide from the first bytes whether *binary* is a metrics CSV and how it is laid out; rewinds the file.

    Raises UnsupportedFormat for a zip (xlsx), FileUnreadable for anything else that is not a usable CSV.
    """
    raw = binary.read(SAMPLE_BYTES)
    binary.seek(0)
    if raw.startswith(ZIP_MAGIC):
        raise UnsupportedFormat("This is a zip file (an .xlsx workbook?); upload CSV text instead.")
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileUnreadable("The file is empty.")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileUnreadable("The file is UTF-16 text; save it as UTF-8 CSV.")
    if b"\x00" in raw:
        raise FileUnreadable("The file is binary, not CSV text.")
    sample = _decoded_sample(raw)
    lines = [line for line in sample.splitlines() if line.strip()][:SAMPLE_LINES]
    header = lines[0]
    candidates = []
    for delimiter in DELIMITERS:
        columns = _header_columns(header, delimiter)
        if set(REQUIRED_COLUMNS) <= set(columns):
            consistent = sum(
                1 for line in lines[1:] if len(next(csv.reader([line], delimiter=delimiter))) == len(columns)
            )
            candidates.append((consistent, delimiter, columns))
    if not candidates:
        widest = max(DELIMITERS, key=lambda d: len(_header_columns(header, d)))
        missing = [c for c in REQUIRED_COLUMNS if c not in _header_columns(header, widest)]
        raise FileUnreadable(
            f"No usable header row: the first line must name the columns name, value and timestamp "
            f"(separated by ',', ';' or tab); missing: {', '.join(missing)}."
        )
    _, delimiter, columns = max(candidates, key=lambda candidate: candidate[0])
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise FileUnreadable(f"The header names a column more than once: {', '.join(duplicates)}.")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS]
    if unknown:
        raise FileUnreadable(
            f"Unexpected column(s) {', '.join(repr(c) for c in unknown)}; the columns are name, value, timestamp."
        )
    if len(lines) < 2:
        raise FileUnreadable("The file has a header row but no data rows.")
    return CsvLayout(delimiter=delimiter, columns=tuple(columns))


def _name_error(name: str) -> str:
    if not name:
        return "The name is empty."
    return f"The name is longer than {NAME_MAX_LENGTH} characters."


def parse_timestamp(raw: str, zone: tzinfo) -> datetime:
    """A timestamp cell as an aware datetime (a naive one read in *zone*); ValueError with the row's message when it
    is not ISO 8601 or falls outside what UTC can hold."""
    try:
        timestamp = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"Not an ISO 8601 date or datetime: {raw[:50]!r}.") from None
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=zone)
    if timestamp.year in (1, 9999):
        try:
            timestamp.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"Out of range: {raw[:50]!r}.") from None
    return timestamp


def iter_rows(
    binary: IO[bytes],
    layout: CsvLayout,
    *,
    tz: tzinfo,
    errors: RowErrors,
) -> Iterator[tuple[str, float, datetime]]:
    """Yield each valid row as ``(name, value, aware timestamp)``; record invalid ones in *errors*.

    Row numbers are as a spreadsheet shows them (the header is row 1; blank lines count but are skipped). Keeps
    validating after the first error so the caller learns how many rows are bad. Raises FileUnreadable when the
    bytes stop being UTF-8 midway.
    """
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=layout.delimiter, strict=True)
    width = len(layout.columns)
    name_at, value_at, timestamp_at = (layout.index(c) for c in REQUIRED_COLUMNS)
    zone = UTC if tz in (UTC,) or getattr(tz, "key", None) == "UTC" else tz
    isfinite = math.isfinite
    row = 1
    try:
        next(reader)
        for fields in reader:
            row += 1
            if len(fields) != width:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                errors.add(row, None, f"Expected {width} fields, found {len(fields)}.")
                continue
            ok = True
            name = fields[name_at].strip()
            if name[:1] == "'":
                name = unescape_text_cell(name)
            if not name or len(name) > NAME_MAX_LENGTH:
                errors.add(row, "name", _name_error(name))
                ok = False
            raw_value = fields[value_at]
            try:
                value = float(raw_value)
                if not isfinite(value) or "_" in raw_value:
                    raise ValueError
            except ValueError:
                errors.add(row, "value", f"Not a finite number: {raw_value[:50]!r}.")
                ok = False
            try:
                timestamp = parse_timestamp(fields[timestamp_at].strip(), zone)
            except ValueError as error:
                errors.add(row, "timestamp", str(error))
                ok = False
            if ok:
                yield name, value, timestamp
    except csv.Error as exc:
        errors.add(row + 1, None, f"Malformed CSV: {exc}.")
    except UnicodeDecodeError as exc:
        raise FileUnreadable(f"The file is not UTF-8 text (undecodable bytes near row {row + 1}).") from exc
    finally:
        # Closed already when the caller dropped this reader half-way and then closed the file (an aborted import).
        if not binary.closed:
            text.detach()
