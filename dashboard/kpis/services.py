"""Writes of KPIs: names unique whatever the case (checked here and by the database), slugs made from them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import User
from dashboard.kpis.models import KPI, KPI_NAME_TAKEN


def _unique_slug(name: str, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:240] or "kpi"
    slug, n = base, 2
    # exclude(pk=None) is Django's IS NULL lookup: it excludes nothing (a new KPI). The stubs refuse None for a pk.
    while KPI.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():  # type: ignore[misc]  # pk=None: see above
        slug, n = f"{base}-{n}", n + 1
    return slug


def _name_taken(name: str, exclude_pk: int | None = None) -> bool:
    return KPI.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists()  # type: ignore[misc]  # pk=None excludes nothing


def _kpi_save(kpi: KPI) -> None:
    """Save *kpi* under its names' rule: unique whatever the case (the database's ``Lower(name)`` constraint), a 400
    field error on ``name`` both when checked first and when a concurrent write takes the name in between."""
    if _name_taken(kpi.name, exclude_pk=kpi.pk):
        raise ValidationError({"name": [KPI_NAME_TAKEN]})
    try:
        with transaction.atomic():
            kpi.save()
    except IntegrityError:
        if _name_taken(kpi.name, exclude_pk=kpi.pk):
            raise ValidationError({"name": [KPI_NAME_TAKEN]}) from None
        raise


@transaction.atomic
def kpi_create(*, created_by: User, **fields) -> KPI:
    kpi = KPI(created_by=created_by, **fields)
    kpi.slug = _unique_slug(kpi.name)
    _kpi_save(kpi)
    return kpi


@transaction.atomic
def kpi_update(*, kpi: KPI, **fields) -> KPI:
    for field, value in fields.items():
        setattr(kpi, field, value)
    if "name" in fields:
        kpi.slug = _unique_slug(kpi.name, exclude_pk=kpi.pk)
    _kpi_save(kpi)
    return kpi


def kpi_delete(*, kpi: KPI) -> None:
    kpi.delete()
