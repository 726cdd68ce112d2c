"""The CSV dialect shared by export and import: formula-injection escaping of text cells, its reversal, and the
export's lines."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

EXPORT_HEADER = ("name", "value", "timestamp")

# A text cell starting with one of these would be read as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_text_cell(text: str) -> str:
    """Prefix one ``'`` to a text cell that a spreadsheet could take for a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_text_cell(text: str) -> str:
    """Undo :func:`escape_text_cell`: drop one leading ``'`` when the next character is a trigger."""
    if len(text) >= 2 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text


class _Echo:
    """A file-like object that hands back what the csv writer writes, so each row becomes one string."""

    def write(self, value: str) -> str:
        return value


def export_lines(rows: Iterable[tuple[str, float, datetime]]) -> Iterator[str]:
    """The export's CSV lines: the header, then ``(name, value, timestamp)`` rows with names escaped, values written
    plainly (``repr``, exact) and timestamps in ISO 8601 as given (UTC from the database)."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(EXPORT_HEADER)
    for name, value, timestamp in rows:
        yield writer.writerow([escape_text_cell(name), repr(value), timestamp.isoformat()])
