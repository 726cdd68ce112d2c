"""The staff pages' number formatting as template filters (``{% load staff_format %}``): dashboard.staff.formatting."""

from __future__ import annotations

from django import template

from dashboard.staff.formatting import format_change, format_exact, format_number

register = template.Library()


@register.filter
def number(value: float | None, unit: str = "") -> str:
    """``{{ value|number:kpi.unit }}``: ``€12,345``, ``3.5 ms``, ``0.25%``; an em dash for none."""
    return format_number(value, unit or "")


@register.filter
def change(pct: float | None) -> str:
    """``{{ pct|change }}``: ``+12.3%``, a real minus sign for falls; an em dash for none."""
    return format_change(pct)


@register.filter
def exact(value: float | None) -> str:
    """``{{ value|exact }}``: the stored value in full with thousands separators."""
    return format_exact(value)


@register.filter
def raw(value: float | None) -> str:
    """``data-value="{{ value|raw }}"``: the exact float the API's JSON carries, empty for none."""
    return "" if value is None else repr(value)
