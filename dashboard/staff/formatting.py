"""How the staff pages write numbers: values with their units, exact stored values, signed changes, and one format per
chart axis. The template filters (``{% load staff_format %}``) and the charts call these."""

from __future__ import annotations

import math
from collections.abc import Sequence

PREFIX_UNITS = frozenset({"$", "€", "£", "¥"})
NBSP = "\u00a0"
MINUS = "\u2212"


def format_number(value: float | None, unit: str = "") -> str:
    """``12345.0, "€"`` → ``€12,345``; ``0.25, "%"`` → ``0.25%``; ``3.5, "ms"`` → ``3.5 ms`` (non-breaking space).

    Whole numbers and anything from 1,000 up show no decimals, 100 to 999 one, smaller numbers up to two (three
    significant digits below 1). ``None`` is an em dash.
    """
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000 or value == int(value):
        text = f"{magnitude:,.0f}"
    elif magnitude >= 100:
        text = f"{magnitude:,.1f}"
    elif magnitude >= 1:
        text = f"{magnitude:,.2f}"
    else:
        text = f"{magnitude:.3g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    sign = MINUS if value < 0 and text != "0" else ""
    if unit in PREFIX_UNITS:
        return f"{sign}{unit}{text}"
    if not unit:
        return f"{sign}{text}"
    if unit == "%":
        return f"{sign}{text}%"
    return f"{sign}{text}{NBSP}{unit}"


def format_exact(value: float | None) -> str:
    """The stored value in full, grouped in thousands: ``1234567.0`` → ``1,234,567``, ``0.125`` → ``0.125``
    (no trailing ``.0``, no rounding); ``None`` is an em dash."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{int(abs(value)):,}" if float(value).is_integer() else f"{abs(value):,}"
    return f"{MINUS}{text}" if value < 0 else text


COMPACT_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def axis_labels(ticks: Sequence[float]) -> list[str]:
    """One number format for a whole axis: one scale (``k`` from 10,000 up, ``M``, …) and one number of decimals,
    the fewest that tell the ticks apart: ``0, 2500, 5000`` → ``0, 2,500, 5,000``; ``0, 5000, 10000, 15000`` →
    ``0k, 5k, 10k, 15k``; ``0, 0.5, 1`` → ``0.0, 0.5, 1.0``."""
    if not ticks:
        return []
    largest = max(abs(tick) for tick in ticks)
    divisor, suffix = 1.0, ""
    for scale, name in COMPACT_SCALES:
        if largest >= max(scale, 1e4):
            divisor, suffix = scale, name
            break
    scaled = [tick / divisor for tick in ticks]
    decimals = next(
        (digits for digits in range(4) if all(abs(value - round(value, digits)) < 1e-9 for value in scaled)), 3
    )
    labels = []
    for value in scaled:
        text = f"{abs(value):,.{decimals}f}"
        negative = value < 0 and float(text.replace(",", "")) != 0
        labels.append(f"{MINUS if negative else ''}{text}{suffix}")
    return labels


def format_change(pct: float | None) -> str:
    """A signed percentage with one decimal: ``+12.3%``, ``-4%`` (a real minus sign); ``None`` is an em dash."""
    if pct is None or not math.isfinite(pct):
        return "—"
    text = f"{abs(pct):,.1f}".rstrip("0").rstrip(".")
    if text == "0":
        return "0%"
    return f"{'+' if pct > 0 else MINUS}{text}%"
