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

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, cast

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Manager, Model
from django.utils import timezone
from rest_framework import ISO_8601, fields, relations, serializers
from rest_framework.settings import api_settings

# A field's output from (serializer, instance or ``values_list`` row, current time zone).
_Getter: TypeAlias = Callable[[Any, Any, tzinfo], object]
# The (name, getter) of each field, in order; empty when the serializer falls back to DRF.
_Plan: TypeAlias = tuple[tuple[str, _Getter], ...]
_AnyField: TypeAlias = fields.Field[Any, Any, Any, Any]

if TYPE_CHECKING:
    # What the mixin is always combined with; at run time it has no base of its own.
    _SerializerBase = serializers.Serializer[Any]
else:
    _SerializerBase = object

_PLAIN: dict[type[_AnyField], Callable[[Any], object]] = {
    fields.IntegerField: int,
    fields.FloatField: float,
    fields.CharField: str,
    fields.EmailField: str,
    fields.BooleanField: bool,
}


def iso_datetime(value: datetime, zone: tzinfo | None = None) -> str:
    """DRF's ``DateTimeField`` output (ISO 8601 format): in *zone* (default: the current time zone), ``Z`` for UTC."""
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _plain(source: str, convert: Callable[[Any], object]) -> _Getter:
    read = attrgetter(source)

    def get(serializer: object, instance: Any, zone: tzinfo) -> object:
        value = read(instance)
        return None if value is None else convert(value)

    return get


def _datetime(source: str) -> _Getter:
    read = attrgetter(source)

    def get(serializer: object, instance: Any, zone: tzinfo) -> object:
        value = read(instance)
        return None if value is None else iso_datetime(value, zone)

    return get


def _primary_key(source: str, model: type[Model] | None) -> _Getter:
    # What serializable_value() reads: the foreign key's column attribute (``owner_id``), found once here.
    try:
        read = attrgetter(model._meta.get_field(source).attname)  # type: ignore[union-attr]  # no model, or a relation without attname: AttributeError, caught below
    except (AttributeError, LookupError, FieldDoesNotExist):

        def get_serializable_value(serializer: object, instance: Any, zone: tzinfo) -> object:
            return instance.serializable_value(source)

        return get_serializable_value

    def get(serializer: object, instance: Any, zone: tzinfo) -> object:
        return read(instance)

    return get


def _method(method_name: str) -> _Getter:
    def get(serializer: object, instance: Any, zone: tzinfo) -> object:
        return getattr(serializer, method_name)(instance)

    return get


def _column(field: _AnyField, model: type[Model] | None) -> str | None:
    """The ``values_list`` column the field's getter reads by attribute name, or None if it needs a model instance."""
    assert field.source is not None  # set when the field is bound to its serializer
    if isinstance(field, fields.SerializerMethodField):
        return None
    if isinstance(field, relations.PrimaryKeyRelatedField):
        try:
            return model._meta.get_field(field.source).attname  # type: ignore[union-attr]  # no model, or a relation without attname: AttributeError, caught below
        except (AttributeError, LookupError, FieldDoesNotExist):
            return None
    return field.source


def _getter(field: _AnyField, model: type[Model] | None) -> _Getter | None:
    source = field.source
    assert source is not None  # set when the field is bound to its serializer
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


class FastListSerializer(serializers.ListSerializer[Any]):
    """``many=True`` of a FastOutputMixin serializer: the current time zone is looked up once for the whole list."""

    def to_representation(self, data: Manager[Any] | Iterable[Any]) -> list[Any]:
        child = cast("FastOutputMixin", self.child)  # many_init gives this class only to their lists
        plan = child._fast_plan_get()
        if not plan:
            return super().to_representation(data)
        items = data.all() if hasattr(data, "all") else data
        zone = timezone.get_current_timezone()
        return [{name: get(child, item, zone) for name, get in plan} for item in items]


class FastOutputMixin(_SerializerBase):
    """For output-only ``ModelSerializer``/``Serializer`` subclasses of plain fields (see the module docstring)."""

    # Set on each concrete class by _fast_plan_build (annotations only: row_columns looks them up in the class dict).
    _fast_columns: ClassVar[tuple[str, ...] | None]
    _fast_plan: ClassVar[_Plan]

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> serializers.BaseSerializer[Any]:
        list_serializer = super().many_init(*args, **kwargs)
        if type(list_serializer) is serializers.ListSerializer:  # no list_serializer_class of its own
            list_serializer.__class__ = FastListSerializer
        return list_serializer

    def to_representation(self, instance: Any) -> dict[str, Any]:
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

    def _fast_plan_get(self) -> _Plan:
        plan: _Plan | None = type(self).__dict__.get("_fast_plan")
        return self._fast_plan_build() if plan is None else plan

    def _fast_plan_build(self) -> _Plan:
        getters: list[tuple[str, _Getter]] = []
        columns: list[str | None] = []
        model: type[Model] | None = getattr(getattr(self, "Meta", None), "model", None)
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
        type(self)._fast_columns = (
            cast("tuple[str, ...]", tuple(columns)) if plan and None not in columns and model else None
        )
        type(self)._fast_plan = plan
        return plan
