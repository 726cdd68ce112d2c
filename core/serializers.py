"""Read-only output serializers rendered from a per-class plan instead of DRF's per-field machinery.

DRF builds a serializer's fields afresh for every instance and then, for every object, walks them calling
``get_attribute`` and ``to_representation``. For output-only serializers made of plain fields this mixin builds the
fields once per class, turns them into a list of ``(name, getter)`` and renders each object with one dict
comprehension. The answers are DRF's own (``core/tests/test_serializers.py`` compares them field by field): a
missing value is ``null``, datetimes are ISO 8601 in the current time zone with ``Z`` for UTC, a related object is its
primary key, a ``SerializerMethodField`` calls its method. A serializer with any other kind of field, or used for
input, falls back to DRF unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from rest_framework import fields, relations, serializers
from rest_framework.settings import ISO_8601, api_settings

_PLAIN = {
    fields.IntegerField: int,
    fields.FloatField: float,
    fields.CharField: str,
    fields.EmailField: str,
    fields.BooleanField: bool,
}


def iso_datetime(value, zone=None):
    """DRF's ``DateTimeField`` output (ISO 8601 format): in *zone* (default: the current time zone), ``Z`` for UTC."""
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _plain(source: str, convert: Callable) -> Callable:
    read = attrgetter(source)

    def get(serializer, instance, zone):
        value = read(instance)
        return None if value is None else convert(value)

    return get


def _datetime(source: str) -> Callable:
    read = attrgetter(source)

    def get(serializer, instance, zone):
        value = read(instance)
        return None if value is None else iso_datetime(value, zone)

    return get


def _primary_key(source: str, model) -> Callable:
    # What serializable_value() reads: the foreign key's column attribute (``owner_id``), found once here.
    try:
        read = attrgetter(model._meta.get_field(source).attname)
    except (AttributeError, LookupError, FieldDoesNotExist):

        def get(serializer, instance, zone):
            return instance.serializable_value(source)

        return get

    def get(serializer, instance, zone):
        return read(instance)

    return get


def _method(method_name: str) -> Callable:
    def get(serializer, instance, zone):
        return getattr(serializer, method_name)(instance)

    return get


def _column(field, model) -> str | None:
    """The ``values_list`` column the field's getter reads by attribute name, or None if it needs a model instance."""
    if isinstance(field, fields.SerializerMethodField):
        return None
    if isinstance(field, relations.PrimaryKeyRelatedField):
        try:
            return model._meta.get_field(field.source).attname
        except (AttributeError, LookupError, FieldDoesNotExist):
            return None
    return field.source


def _getter(field, model) -> Callable | None:
    source = field.source
    simple = "." not in source and source != "*"
    if isinstance(field, fields.SerializerMethodField):
        return _method(field.method_name)
    if isinstance(field, relations.PrimaryKeyRelatedField) and simple and field.pk_field is None:
        return _primary_key(source, model)
    if type(field) is fields.DateTimeField:
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        iso = isinstance(output_format, str) and output_format.lower() == ISO_8601
        return _datetime(source) if iso and simple and not hasattr(field, "timezone") else None
    if type(field) is fields.BigIntegerField and not getattr(
        field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING
    ):
        return _plain(source, int) if simple else None
    convert = _PLAIN.get(type(field))
    if convert is not None and simple:
        return _plain(source, convert)
    return None


class FastListSerializer(serializers.ListSerializer):
    """``many=True`` of a FastOutputMixin serializer: the current time zone is looked up once for the whole list."""

    def to_representation(self, data):
        child = self.child
        plan = child._fast_plan_get()
        if not plan:
            return super().to_representation(data)
        items = data.all() if hasattr(data, "all") else data
        zone = timezone.get_current_timezone()
        return [{name: get(child, item, zone) for name, get in plan} for item in items]


class FastOutputMixin:
    """For output-only ``ModelSerializer``/``Serializer`` subclasses of plain fields (see the module docstring)."""

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_serializer = super().many_init(*args, **kwargs)
        if type(list_serializer) is serializers.ListSerializer:  # no list_serializer_class of its own
            list_serializer.__class__ = FastListSerializer
        return list_serializer

    def to_representation(self, instance):
        plan = self._fast_plan_get()
        if not plan:
            return super().to_representation(instance)
        zone = timezone.get_current_timezone()
        return {name: get(self, instance, zone) for name, get in plan}

    @classmethod
    def row_columns(cls) -> tuple[str, ...] | None:
        """Columns for ``values_list(*columns, named=True)`` rows, which this serializer then renders exactly like
        model instances (no model instance built per row); None when it needs instances (a method field, a field it
        does not know)."""
        if "_fast_columns" not in cls.__dict__:
            cls()._fast_plan_get()
        return cls._fast_columns

    def _fast_plan_get(self) -> tuple:
        plan = type(self).__dict__.get("_fast_plan")
        return self._fast_plan_build() if plan is None else plan

    def _fast_plan_build(self) -> tuple:
        getters, columns = [], []
        model = getattr(getattr(self, "Meta", None), "model", None)
        for name, field in self.fields.items():
            if field.write_only:
                continue
            getter = _getter(field, model)
            if getter is None:
                getters = []
                break
            getters.append((name, getter))
            columns.append(_column(field, model))
        plan = tuple(getters)
        type(self)._fast_columns = tuple(columns) if plan and None not in columns and model else None
        type(self)._fast_plan = plan
        return plan
