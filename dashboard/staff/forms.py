"""Forms of the staff pages. Query parameters are validated by the API's own serializers, so both agree."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from rest_framework import serializers

from dashboard.api.serializers import RangeQuerySerializer, SeriesQuerySerializer
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
        return ZoneInfo(super().clean(value) or settings.TIME_ZONE)


class SerializerCheckedForm(forms.Form):
    """A GET form whose ``clean()`` hands the raw values to a DRF serializer of the API.

    The serializer's ``validated_data`` becomes ``self.query``; its errors land on the matching form fields.
    """

    serializer_class: type[serializers.Serializer]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        raw = {name: self.data.get(name, "") for name in self.fields}
        serializer = self.serializer_class(data={name: value for name, value in raw.items() if value not in ("", None)})
        if serializer.is_valid():
            self.query = dict(serializer.validated_data)
        else:
            for name, messages in serializer.errors.items():
                self.add_error(name if name in self.fields else None, [str(message) for message in messages])
        return cleaned

    @classmethod
    def with_defaults(cls, data, defaults: dict, **kwargs):
        """Bind the form to *data* (``request.GET``) with *defaults* for the fields it leaves out."""
        merged = {**defaults, **{key: data.get(key) for key in data}}
        return cls(merged, **kwargs)


class TimeZoneForm(SerializerCheckedForm):
    serializer_class = RangeQuerySerializer
    tz = TimeZoneChoiceField()


class KPIRangeForm(SerializerCheckedForm):
    """``from`` and ``to`` (dates, read in ``tz``; both empty means the last 12 periods) and ``tz``."""

    serializer_class = RangeQuerySerializer
    to = forms.CharField(required=False, label="To (exclusive)", widget=DATE_INPUT)
    tz = TimeZoneChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"from": forms.CharField(required=False, label="From", widget=DATE_INPUT), **self.fields}


class MetricExplorerForm(SerializerCheckedForm):
    """The series query of the API (name, bucket, aggregation, range, time zone) with the caller's metric names."""

    serializer_class = SeriesQuerySerializer
    name = forms.ChoiceField(label="Metric")
    bucket = forms.ChoiceField(choices=[(bucket, bucket.capitalize()) for bucket in BUCKETS])
    agg = forms.ChoiceField(label="Aggregation", choices=list(AGGREGATION_LABELS.items()))
    to = forms.CharField(required=False, label="To (exclusive)", widget=DATE_INPUT)
    tz = TimeZoneChoiceField()

    def __init__(self, *args, names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].choices = [(name, name) for name in names]
        fields = dict(self.fields)
        self.fields = {
            "name": fields.pop("name"),
            "bucket": fields.pop("bucket"),
            "agg": fields.pop("agg"),
            "from": forms.CharField(required=False, label="From", widget=DATE_INPUT),
            **fields,
        }


class MetricImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Columns name, value, timestamp (any order); header required.")
    tz = TimeZoneChoiceField(required=False, help_text="For timestamps without an offset.")
    allow_duplicate = forms.BooleanField(
        required=False, label="Import again", help_text="Import even if you already imported this same file."
    )
