"""Server-rendered SVG charts for the staff pages: bucketed points in, accessible SVG markup out (no JavaScript).

Every function here is pure: the numbers come from the selectors, this module only lays them out (the geometry);
:mod:`dashboard.staff.formatting` writes the numbers and ``_svg_chart.html`` the markup.
A chart is a line through one ``<circle class="point">`` per period, an optional dashed target line with its
warning band, a ``<title>`` and a ``<desc>`` for screen readers, and a ``<title>`` on every point as a tooltip.
Colours come from one place, ``dashboard/staff/static/css/staff.css`` (by class: tones, partial periods, light and
dark themes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from dashboard.staff.formatting import axis_labels, format_number
from dashboard.timeseries import bucket_end, period_label

SVG_TEMPLATE = "admin/dashboard/staff/_svg_chart.html"


@dataclass(frozen=True)
class ChartSize:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: int
    x_labels: int
    font: int
    radius: float
    target_label: bool


SMALL = ChartSize(
    width=320,
    height=130,
    left=40,
    right=10,
    top=10,
    bottom=22,
    y_ticks=3,
    x_labels=2,
    font=10,
    radius=3,
    target_label=False,
)
LARGE = ChartSize(
    width=960,
    height=360,
    left=64,
    right=20,
    top=16,
    bottom=36,
    y_ticks=5,
    x_labels=8,
    font=13,
    radius=4.5,
    target_label=True,
)


@dataclass(frozen=True)
class ChartPoint:
    """One period: ``[start, end)`` in the chart's time zone, its labels, its value and an optional tone (a status)."""

    start: datetime
    end: datetime
    label: str
    short_label: str
    value: float
    tone: str = ""
    partial: bool = False  # the range holds only part of the period: it runs on (so far), or the range starts in it
    note: str = ""  # why it is partial, for labels: "so far" or "from Mar 15"


@dataclass(frozen=True)
class Chart:
    """What a template needs: the SVG, and the same numbers as ``(period, value)`` text rows for a table."""

    chart_id: str
    title: str
    description: str
    svg: SafeString
    rows: list[tuple[str, str]] = field(default_factory=list)


def chart_points(
    points: Sequence,
    bucket: str,
    tones: Sequence[str] | None = None,
    now: datetime | None = None,
    start: datetime | None = None,
) -> list[ChartPoint]:
    """Selector points (anything with ``t`` and ``value``) → :class:`ChartPoint`, labelled for *bucket*.

    *tones* (one per point) colour the marks; a period still running at *now*, or one that began before the range's
    *start* (so only its part in the range counts), is marked partial.
    """
    marks = []
    for index, point in enumerate(points):
        end = bucket_end(point.t, bucket)
        note = ""
        if now is not None and end > now:
            note = "so far"
        elif start is not None and point.t < start:
            note = f"from {period_label(start.astimezone(point.t.tzinfo), 'day', short=True)}"
        marks.append(
            ChartPoint(
                start=point.t,
                end=end,
                label=period_label(point.t, bucket),
                short_label=period_label(point.t, bucket, short=True),
                value=point.value,
                tone=tones[index] if tones else "",
                partial=bool(note),
                note=note,
            )
        )
    return marks


# --- Scales ----------------------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """About *count* round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering ``[low, high]``."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = max(abs(high) * 0.1, 1.0)
        low, high = low - pad, high + pad
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    steps = round((last - first) / step)
    return [float(f"{first + i * step:.12g}") for i in range(steps + 1)]


def _timestamp(moment: datetime) -> float:
    return moment.timestamp()


def _x_scale(points: Sequence[ChartPoint], domain: tuple[datetime, datetime] | None, size: ChartSize):
    # The domain always covers the points: a range may start or end inside a bucket.
    start = min(_timestamp(domain[0]) if domain else math.inf, _timestamp(points[0].start))
    end = max(_timestamp(domain[1]) if domain else -math.inf, _timestamp(points[-1].end))
    span = max(end - start, 1.0)
    plot = size.width - size.left - size.right

    def x(point: ChartPoint) -> float:
        middle = (_timestamp(point.start) + _timestamp(point.end)) / 2
        return size.left + (middle - start) / span * plot

    return x


def _y_scale(ticks: Sequence[float], size: ChartSize):
    low, high = ticks[0], ticks[-1]
    plot = size.height - size.top - size.bottom

    def y(value: float) -> float:
        return size.top + (high - value) / (high - low) * plot

    return y


def _n(value: float) -> str:
    """SVG coordinates with two decimals at most."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _x_labels(points: Sequence[ChartPoint], x, size: ChartSize) -> list[tuple[float, str]]:
    """``(x, text)`` of up to ``size.x_labels`` period labels, evenly spaced back from the latest, never overlapping.

    With room for two, the first and the last period. Widths are estimated from the font size.
    """
    count, wanted = len(points), size.x_labels
    if count <= wanted:
        candidates = list(range(count - 1, -1, -1))
    elif wanted <= 2:
        candidates = [count - 1, 0][:wanted]
    else:
        candidates = list(range(count - 1, -1, -math.ceil(count / wanted)))
    placed: list[tuple[float, float, str]] = []  # (left edge, centre, text), right to left
    for index in candidates:
        text = points[index].short_label
        width = len(text) * size.font * 0.6
        low, high = size.left + width / 2, size.width - size.right - width / 2
        centre = min(max(x(points[index]), low), high)
        if placed and centre + width / 2 + size.font > placed[-1][0]:
            continue
        placed.append((centre - width / 2, centre, text))
    return [(centre, text) for _, centre, text in reversed(placed)]


# --- The chart -------------------------------------------------------------------------------------------------


def describe_series(
    points: Sequence[ChartPoint], *, unit: str = "", target: float | None = None, what: str = "periods"
) -> str:
    """One sentence for screen readers: how many periods, from when to when, latest, lowest, highest, target."""
    if not points:
        text = f"No data in this range ({what})."
    else:
        values = [p.value for p in points]
        text = (
            f"{len(points)} {what} from {points[0].label} to {points[-1].label}. "
            f"Latest {format_number(values[-1], unit)} ({points[-1].label}); "
            f"lowest {format_number(min(values), unit)}, highest {format_number(max(values), unit)}."
        )
    if target is not None:
        text += f" Target {format_number(target, unit)}."
    return text


@dataclass(frozen=True)
class Mark:
    """One period's circle: where it is drawn and what its tooltip says."""

    cx: str
    cy: str
    r: str
    classes: str
    value: float
    tooltip: str


@dataclass(frozen=True)
class Geometry:
    """Where everything of a chart goes, in SVG coordinates (two decimals at most); the template draws it."""

    chart_id: str
    size_class: str
    width: int
    height: int
    font: int
    points: int
    left: int
    right: int
    y_ticks: list[tuple[str, str]] = field(default_factory=list)  # (y, label)
    label_x: int = 0
    x_labels: list[tuple[str, str]] = field(default_factory=list)  # (x, label)
    x_label_y: int = 0
    band: tuple[str, str, int] | None = None  # (y, height, width)
    target: tuple[str, str] | None = None  # (y, "Target …")
    target_label_y: str = ""
    path: str = ""
    marks: list[Mark] = field(default_factory=list)
    empty: tuple[str, str, int] | None = None  # (x, y, font size) of "No data"


def _geometry(
    *,
    chart_id: str,
    points: list[ChartPoint],
    domain: tuple[datetime, datetime] | None,
    unit: str,
    target: float | None,
    band: tuple[float, float] | None,
    size: ChartSize,
) -> Geometry:
    right = size.width - size.right
    geometry = partial(
        Geometry,
        chart_id=chart_id,
        size_class="large" if size is LARGE else "small",
        width=size.width,
        height=size.height,
        font=size.font,
        points=len(points),
        left=size.left,
        right=right,
    )
    if not points:
        return geometry(empty=(_n(size.width / 2), _n(size.height / 2), size.font + 2))
    extremes = [p.value for p in points]
    if target is not None:
        extremes.append(target)
    if band is not None:
        extremes.extend(band)
    ticks = nice_ticks(min(extremes), max(extremes), size.y_ticks)
    x, y = _x_scale(points, domain, size), _y_scale(ticks, size)
    band_box = None
    if band is not None:
        low, high = sorted(band)
        band_box = (_n(y(high)), _n(y(low) - y(high)), right - size.left)
    target_line = None
    if target is not None:
        target_line = (_n(y(target)), f"Target {format_number(target, unit)}")
    radius = _n(_radius(len(points), size))
    marks = [
        Mark(
            cx=_n(x(point)),
            cy=_n(y(point.value)),
            r=radius,
            classes="point" + (f" tone-{point.tone}" if point.tone else "") + (" partial" if point.partial else ""),
            value=point.value,
            tooltip=f"{point.label}{f' ({point.note})' if point.note else ''}: {format_number(point.value, unit)}",
        )
        for point in points
    ]
    return geometry(
        y_ticks=[(_n(y(tick)), label) for tick, label in zip(ticks, axis_labels(ticks), strict=True)],
        label_x=size.left - 6,
        x_labels=[(_n(label_x), text) for label_x, text in _x_labels(points, x, size)],
        x_label_y=size.height - size.bottom + size.font + 6,
        band=band_box,
        target=target_line,
        target_label_y=_n(y(target) - 5) if target is not None and size.target_label else "",
        path=_line_path(points, x, y),
        marks=marks,
    )


def series_chart(
    *,
    chart_id: str,
    title: str,
    points: Sequence[ChartPoint],
    domain: tuple[datetime, datetime] | None = None,
    unit: str = "",
    target: float | None = None,
    band: tuple[float, float] | None = None,
    size: ChartSize = SMALL,
    description: str | None = None,
    what: str = "periods",
) -> Chart:
    """Draw *points* over *domain* (default: the points' own span) as an accessible SVG line chart.

    *target* is drawn as a dashed line, *band* (e.g. the KPI's at-risk margin) as a light stripe; both are kept inside
    the vertical scale. Consecutive periods are joined; a missing period breaks the line. The geometry is computed
    here; the markup is the template ``admin/dashboard/staff/_svg_chart.html``.
    """
    points = list(points)
    description = description or describe_series(points, unit=unit, target=target, what=what)
    geometry = _geometry(
        chart_id=chart_id, points=points, domain=domain, unit=unit, target=target, band=band, size=size
    )
    svg = render_to_string(SVG_TEMPLATE, {"chart": geometry, "title": title, "description": description})
    rows = [
        (point.label + (f" ({point.note})" if point.note else ""), format_number(point.value, unit)) for point in points
    ]
    # The template escapes every value it is given.
    return Chart(chart_id=chart_id, title=title, description=description, svg=mark_safe(svg.strip()), rows=rows)  # noqa: S308


def _radius(count: int, size: ChartSize) -> float:
    plot = size.width - size.left - size.right
    return max(1.5, min(size.radius, plot / max(count, 1) / 3))


def _line_path(points: Sequence[ChartPoint], x, y) -> str:
    commands = []
    previous: ChartPoint | None = None
    for point in points:
        joined = previous is not None and previous.end == point.start
        commands.append(f"{'L' if joined else 'M'}{_n(x(point))} {_n(y(point.value))}")
        previous = point
    return " ".join(commands)
