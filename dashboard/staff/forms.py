"""Forms of the staff pages. Time zones, dates and ranges are read by :mod:`dashboard.time_input`, as the API reads
them."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings

from dashboard import time_input
from dashboard.timeseries import BUCKETS

AGGREGATION_LABELS = {
    "sum": "Sum",
    "avg": "Average",
    "min": "Minimum",
    "max": "Maximum",
    "count": "Count",
    "last": "Last value",
}
DATE_INPUT = forms.DateInput(attrs={"type": "date"})


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    """IANA zone names (``Area/City``) and UTC, sorted, with the project's TIME_ZONE first."""
    names = sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/")))
    first = [settings.TIME_ZONE, *(["UTC"] if settings.TIME_ZONE != "UTC" else [])]
    return [(name, name) for name in first] + [(name, name) for name in names if name not in first]


class TimeZoneChoiceField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Time zone")
        kwargs.setdefault("initial", settings.TIME_ZONE)
        super().__init__(choices=time_zone_choices, **kwargs)

    def clean(self, value) -> ZoneInfo:
        name = super().clean(value)
        return time_input.time_zone(name) if name else time_input.default_time_zone()


class LocalDateTimeField(forms.CharField):
    """A date (the pages' date inputs) or an ISO 8601 datetime, naive until the form places it in its zone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", DATE_INPUT)
        super().__init__(**kwargs)

    def to_python(self, value) -> datetime | None:  # type: ignore[override]  # a CharField read into a datetime
        text = super().to_python(value)
        if not text:
            return None
        try:
            return time_input.local_datetime(text)
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from None


class StaffQueryForm(forms.Form):
    """A GET form of a staff page, bound to ``request.GET`` with defaults for what it leaves out."""

    @classmethod
    def with_defaults(cls, data, defaults: dict, **kwargs):
        merged = {**defaults, **{key: data.get(key) for key in data}}
        return cls(merged, **kwargs)


class TimeZoneForm(StaffQueryForm):
    tz = TimeZoneChoiceField()


class RangeForm(StaffQueryForm):
    """``from`` and ``to`` (read in ``tz``) and ``tz``, placed as the API places them (by
    :func:`dashboard.time_input.time_range`): ``cleaned_data`` holds ``start`` and ``end`` (UTC, None when empty) and
    ``tz``. Subclasses' own fields come first."""

    to = LocalDateTimeField(label="To (exclusive)")
    tz = TimeZoneChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = LocalDateTimeField(label="From")  # a keyword: no class attribute can be named so
        own = [name for name in self.fields if name not in ("from", "to", "tz")]
        self.order_fields([*own, "from", "to", "tz"])

    def clean(self) -> dict:
        cleaned = super().clean()
        assert cleaned is not None, "Form.clean returns cleaned_data"
        if self.errors:
            return cleaned
        try:
            bounds = time_input.time_range(
                start=cleaned.pop("from", None), end=cleaned.pop("to", None), tz=cleaned["tz"]
            )
        except time_input.QueryError as error:
            for name, messages in error.errors.items():
                self.add_error(name if name in self.fields else None, messages)
            return cleaned
        cleaned.update(start=bounds.start, end=bounds.end, tz=bounds.tz)
        return cleaned


class KPIRangeForm(RangeForm):
    """A KPI chart's range (both empty means the last 12 periods) and time zone."""


class MetricExplorerForm(RangeForm):
    """The explorer's series query (name, bucket, aggregation, range, time zone) over the caller's metric names."""

    name = forms.ChoiceField(label="Metric")
    bucket = forms.ChoiceField(choices=[(bucket, bucket.capitalize()) for bucket in BUCKETS])
    agg = forms.ChoiceField(label="Aggregation", choices=list(AGGREGATION_LABELS.items()))

    def __init__(self, *args, names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["name"]).choices = [(name, name) for name in names]


class MetricImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Columns name, value, timestamp (any order); header required.")
    tz = TimeZoneChoiceField(required=False, help_text="For timestamps without an offset.")
    allow_duplicate = forms.BooleanField(
        required=False, label="Import again", help_text="Import even if you already imported this same file."
    )
