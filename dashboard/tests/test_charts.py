"""Server-rendered SVG charts: well-formed, accessible, one mark per period, escaped, no inline styles."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from dashboard.metrics.selectors import Point
from dashboard.staff.charts import LARGE, SMALL, ChartPoint, chart_points, describe_series, nice_ticks, series_chart
from dashboard.staff.formatting import axis_labels, format_change, format_exact, format_number
from dashboard.timeseries import bucket_end, period_label

SVG = "{http://www.w3.org/2000/svg}"
NBSP = "\u00a0"


def _months(values, year=2026, tz=UTC):
    return [Point(t=datetime(year, month, 1, tzinfo=tz), value=value, count=1) for month, value in values]


def _parse(chart):
    return ET.fromstring(str(chart.svg))


def _points(root):
    return [circle for circle in root.iter(f"{SVG}circle") if "point" in circle.get("class", "").split()]


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (12345.0, "€", "€12,345"),
        (-12345.6, "$", "\u2212$12,346"),
        (0.25, "%", "0.25%"),
        (3.5, "ms", f"3.5{NBSP}ms"),
        (150.25, "", "150.2"),
        (42.0, "users", f"42{NBSP}users"),
        (0.012345, "", "0.0123"),
        (0.0, "", "0"),
        (1_234_567.891, "", "1,234,568"),
        (None, "€", "—"),
        (float("nan"), "", "—"),
    ],
)
def test_format_number(value, unit, expected):
    assert format_number(value, unit) == expected


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        ([0, 2500, 5000, 7500, 10_000, 12_500], ["0.0k", "2.5k", "5.0k", "7.5k", "10.0k", "12.5k"]),
        ([0, 5000, 10_000, 15_000], ["0k", "5k", "10k", "15k"]),
        ([0, 2000, 4000, 6000], ["0", "2,000", "4,000", "6,000"]),
        ([0, 0.5, 1, 1.5], ["0.0", "0.5", "1.0", "1.5"]),
        ([0.1, 0.125, 0.15], ["0.100", "0.125", "0.150"]),
        ([-20_000, 0, 20_000], ["\u221220k", "0k", "20k"]),
        ([1e6, 2.5e6, 4e6], ["1.0M", "2.5M", "4.0M"]),
        ([], []),
    ],
)
def test_axis_labels_use_one_format_per_axis(ticks, expected):
    assert axis_labels(ticks) == expected


def test_axis_labels_of_nice_ticks_share_scale_and_decimals():
    for low, high in [(0, 12_345), (3.2, 4.1), (-0.02, 0.07), (900, 1_100_000)]:
        labels = axis_labels(nice_ticks(low, high, 5))
        suffixes = {label.lstrip("\u2212").rstrip("kMBT") != label.lstrip("\u2212") for label in labels}
        decimals = {len(label.rstrip("kMBT").partition(".")[2]) for label in labels}
        assert len(suffixes) == 1, labels
        assert len(decimals) == 1, labels


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_234_567.0, "1,234,567"),
        (12.0, "12"),
        (1234.5678, "1,234.5678"),
        (0.125, "0.125"),
        (-1500.25, "\u22121,500.25"),
        (None, "—"),
    ],
)
def test_format_exact_groups_thousands_without_a_trailing_zero(value, expected):
    assert format_exact(value) == expected


@pytest.mark.parametrize(
    ("pct", "expected"),
    [(12.345, "+12.3%"), (-4.0, "\u22124%"), (0.0, "0%"), (0.01, "0%"), (None, "—")],
)
def test_format_change(pct, expected):
    assert format_change(pct) == expected


@pytest.mark.parametrize(
    ("bucket", "long", "short"),
    [
        ("hour", "Mar 9, 2026 14:00", "Mar 9 14:00"),
        ("day", "Mar 9, 2026", "Mar 9"),
        ("week", "Week of Mar 9, 2026", "Mar 9"),
        ("month", "March 2026", "Mar 2026"),
        ("quarter", "Q1 2026", "Q1 2026"),
        ("year", "2026", "2026"),
    ],
)
def test_period_labels(bucket, long, short):
    start = datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert period_label(start, bucket) == long
    assert period_label(start, bucket, short=True) == short


def test_bucket_end_is_wall_clock_for_periods_and_absolute_for_hours():
    berlin = ZoneInfo("Europe/Berlin")
    assert bucket_end(datetime(2026, 3, 29, tzinfo=berlin), "day") == datetime(2026, 3, 30, tzinfo=berlin)
    assert bucket_end(datetime(2026, 1, 1, tzinfo=berlin), "quarter") == datetime(2026, 4, 1, tzinfo=berlin)
    # 01:00 + 1 h is 03:00 on the night clocks go forward (02:00 does not exist).
    end = bucket_end(datetime(2026, 3, 29, 1, tzinfo=berlin), "hour")
    assert end.astimezone(UTC) == datetime(2026, 3, 29, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("low", "high", "count"),
    [(0, 100, 4), (101_461, 132_874, 5), (0.4, 0.9, 3), (-3, 7, 4), (5, 5, 3), (1e-6, 3e-6, 3)],
)
def test_nice_ticks_cover_the_range_in_round_steps(low, high, count):
    ticks = nice_ticks(low, high, count)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    assert 2 <= len(ticks) <= 2 * count + 2
    steps = {round(b - a, 12) for a, b in pairwise(ticks)}
    assert len(steps) == 1
    mantissa = f"{steps.pop():e}".split("e")[0]
    assert float(mantissa) in (1, 2, 2.5, 5)


def test_chart_is_well_formed_svg_with_one_mark_per_period_title_and_desc():
    points = chart_points(_months([(1, 10.0), (2, 12.5), (3, 9.0)]), "month")
    chart = series_chart(chart_id="c1", title="Revenue per month", points=points, unit="€", target=11.0)
    root = _parse(chart)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Revenue per month"
    assert root.find(f"{SVG}title").get("id") == "c1-title"
    description = root.find(f"{SVG}desc").text
    assert "3 periods from January 2026 to March 2026" in description
    assert "Latest €9 (March 2026)" in description
    assert "Target €11" in description
    marks = _points(root)
    assert [float(mark.get("data-value")) for mark in marks] == [10.0, 12.5, 9.0]
    assert [mark.find(f"{SVG}title").text for mark in marks] == [
        "January 2026: €10",
        "February 2026: €12.5",
        "March 2026: €9",
    ]
    assert root.get("data-points") == "3"
    assert chart.rows == [("January 2026", "€10"), ("February 2026", "€12.5"), ("March 2026", "€9")]


def test_target_is_a_dashed_line_inside_the_scale_and_absent_without_target():
    points = chart_points(_months([(1, 10.0), (2, 12.0)]), "month")
    root = _parse(series_chart(chart_id="c", title="t", points=points, target=100.0, band=(90.0, 100.0)))
    (target,) = [line for line in root.iter(f"{SVG}line") if line.get("class") == "target"]
    assert target.get("stroke-dasharray")
    assert target.get("y1") == target.get("y2")
    assert SMALL.top <= float(target.get("y1")) <= SMALL.height - SMALL.bottom
    assert [rect.get("class") for rect in root.iter(f"{SVG}rect")] == ["target-band"]

    root = _parse(series_chart(chart_id="c", title="t", points=points))
    assert not [line for line in root.iter(f"{SVG}line") if line.get("class") == "target"]


def test_higher_values_are_drawn_higher_and_time_runs_left_to_right():
    points = chart_points(_months([(1, 1.0), (2, 5.0), (3, 3.0)]), "month")
    marks = _points(_parse(series_chart(chart_id="c", title="t", points=points, size=LARGE)))
    xs = [float(mark.get("cx")) for mark in marks]
    ys = [float(mark.get("cy")) for mark in marks]
    assert xs == sorted(xs)
    assert ys[1] < ys[2] < ys[0]
    assert all(LARGE.left <= x <= LARGE.width - LARGE.right for x in xs)


def test_a_missing_period_breaks_the_line():
    points = chart_points(_months([(1, 1.0), (2, 2.0), (4, 4.0)]), "month")
    root = _parse(series_chart(chart_id="c", title="t", points=points))
    (path,) = [p for p in root.iter(f"{SVG}path") if p.get("class") == "series-line"]
    assert re.findall(r"[ML]", path.get("d")) == ["M", "L", "M"]


def test_domain_spreads_points_over_the_whole_range():
    points = chart_points(_months([(12, 5.0)], year=2026), "month")
    domain = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    (mark,) = _points(_parse(series_chart(chart_id="c", title="t", points=points, domain=domain)))
    assert float(mark.get("cx")) > SMALL.width * 0.85


def test_tones_and_the_running_period_are_classes_on_the_marks():
    raw = _months([(1, 1.0), (2, 2.0)])
    points = chart_points(raw, "month", ["off_track", "on_track"], now=datetime(2026, 2, 10, tzinfo=UTC))
    assert [p.partial for p in points] == [False, True]
    chart = series_chart(chart_id="c", title="t", points=points)
    classes = [mark.get("class") for mark in _points(_parse(chart))]
    assert classes == ["point tone-off_track", "point tone-on_track partial"]
    assert chart.rows[1][0] == "February 2026 (so far)"


def test_a_first_period_the_range_starts_inside_is_hollow_like_the_running_one():
    raw = _months([(1, 1.0), (2, 2.0), (3, 3.0)])
    points = chart_points(raw, "month", now=datetime(2026, 3, 10, tzinfo=UTC), start=datetime(2026, 1, 15, tzinfo=UTC))
    assert [(p.partial, p.note) for p in points] == [(True, "from Jan 15"), (False, ""), (True, "so far")]
    chart = series_chart(chart_id="c", title="t", points=points)
    marks = _points(_parse(chart))
    assert [mark.get("class") for mark in marks] == ["point partial", "point", "point partial"]
    assert not any(mark.get("fill") for mark in marks)  # colours (hollow ones too) are the stylesheet's
    assert chart.rows[0][0] == "January 2026 (from Jan 15)"
    aligned = chart_points(raw, "month", start=datetime(2026, 1, 1, tzinfo=UTC))
    assert not any(p.partial for p in aligned)


def test_no_points_draws_a_labelled_empty_chart():
    chart = series_chart(chart_id="empty", title="Nothing", points=[], target=5.0)
    root = _parse(chart)
    assert not _points(root)
    assert root.get("data-points") == "0"
    assert "No data" in "".join(root.itertext())
    assert root.find(f"{SVG}desc").text.startswith("No data in this range")
    assert chart.rows == []


def test_text_is_escaped():
    points = [
        ChartPoint(
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 2, 1, tzinfo=UTC),
            label="<b>Jan</b>",
            short_label="<i>",
            value=1.0,
        )
    ]
    chart = series_chart(chart_id='x" onload="alert(1)', title="<script>alert(1)</script>", points=points, unit="&")
    svg = str(chart.svg)
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "<i>" not in svg
    assert 'onload="' not in svg
    root = _parse(chart)  # still well-formed
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script>"


def test_markup_has_no_inline_styles_or_scripts_for_the_csp():
    points = chart_points(_months([(month, float(month)) for month in range(1, 13)]), "month")
    for size in (SMALL, LARGE):
        svg = str(series_chart(chart_id="c", title="t", points=points, target=6.0, band=(5.0, 6.0), size=size).svg)
        assert "style" not in svg
        assert "<script" not in svg
        assert not re.search(r"\son\w+=", svg)


def test_x_labels_never_exceed_the_size_and_include_the_latest_period():
    points = chart_points(_months([(month, float(month)) for month in range(1, 13)]), "month")
    for size in (SMALL, LARGE):
        root = _parse(series_chart(chart_id="c", title="t", points=points, size=size))
        labels = [
            text.text
            for text in root.iter(f"{SVG}text")
            if text.get("class") == "tick-label" and text.get("text-anchor") == "middle"
        ]
        assert 1 <= len(labels) <= size.x_labels
        assert labels[-1] == "Dec 2026"
    small_labels = [
        t.text
        for t in _parse(series_chart(chart_id="c", title="t", points=points)).iter(f"{SVG}text")
        if t.get("text-anchor") == "middle"
    ]
    assert small_labels == ["Jan 2026", "Dec 2026"]


def test_describe_series_names_count_range_extremes_and_target():
    points = chart_points(_months([(1, 3.0), (2, 1.0), (3, 2.0)]), "month")
    text = describe_series(points, unit="%", target=2.5, what="months")
    assert text == (
        "3 months from January 2026 to March 2026. Latest 2% (March 2026); lowest 1%, highest 3%. Target 2.5%."
    )
