"""Boards: their writes (panels replaced all at once), and their JSON export and import.

The export is the board without ids or owner, its KPIs named by slug, in the shape :func:`board_import` takes back:
exporting an imported board gives the same JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from dashboard.boards.models import Board, Panel
from dashboard.kpis.models import KPI
from dashboard.metrics.models import Aggregation
from dashboard.time_input import parse_local_datetime
from dashboard.timeseries import BUCKETS, RELATIVE_RANGES

GRID_COLUMNS = 12
PANEL_MAX_HEIGHT = 12
GRID_MAX_ROWS = 1000
BOARD_MAX_PANELS = 50
EXPORT_FORMAT = "dashboard.board"
EXPORT_VERSION = 1
BOARD_FIELDS = ("name", "description", "shared_with", "panels")


def _clean_range(value, where: str) -> str | dict | None:
    if value is None or value in RELATIVE_RANGES:
        return value
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        bounds = {}
        for key in ("from", "to"):
            text = value[key]
            moment = parse_local_datetime(text) if isinstance(text, str) else None
            if moment is None:
                raise ValidationError(f"{where}: range '{key}' must be an ISO 8601 date or datetime.")
            if not 1 < moment.year < 9999:
                # Read in any zone and converted to UTC, it must stay within years 1-9999.
                raise ValidationError(f"{where}: range '{key}' must fall within years 2-9998.")
            bounds[key] = moment
        # Naive bounds are read in the request's zone; for this check, in UTC.
        start, end = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in bounds.values())
        if start > end:
            raise ValidationError(f"{where}: range 'from' must not be after 'to'.")
        return {"from": value["from"].strip(), "to": value["to"].strip()}
    names = ", ".join(RELATIVE_RANGES)
    raise ValidationError(f"{where}: range must be one of {names}, or {{from, to}}.")


def _clean_geometry(panel: dict, where: str) -> None:
    x, y, w, h = (panel[key] for key in ("x", "y", "w", "h"))
    if not (x >= 0 and w >= 1 and x + w <= GRID_COLUMNS):
        raise ValidationError(f"{where}: needs 0 <= x, 1 <= w and x + w <= {GRID_COLUMNS}.")
    if not (1 <= h <= PANEL_MAX_HEIGHT):
        raise ValidationError(f"{where}: needs 1 <= h <= {PANEL_MAX_HEIGHT}.")
    if not (y >= 0 and y + h <= GRID_MAX_ROWS):
        raise ValidationError(f"{where}: needs 0 <= y and y + h <= {GRID_MAX_ROWS}.")


def _panels_build(panels: list[dict], kpis: dict) -> list[Panel]:
    """Unsaved panels from validated dicts (``kpi`` already resolved to a KPI); every board rule checked here."""
    if len(panels) > BOARD_MAX_PANELS:
        raise ValidationError({"panels": f"A board holds at most {BOARD_MAX_PANELS} panels."})
    built: list[Panel] = []
    errors: list[str] = []
    covered: dict[tuple[int, int], int] = {}
    for index, panel in enumerate(panels):
        where = f"Panel {index}"
        try:
            _clean_geometry(panel, where)
            kind, kpi, metric = panel["type"], kpis.get(panel.get("kpi")), panel.get("metric")
            if kind == Panel.Type.KPI and kpi is None:
                raise ValidationError(f"{where}: a kpi panel needs a kpi.")
            if kind != Panel.Type.KPI and panel.get("kpi") is not None:
                raise ValidationError(f"{where}: only a kpi panel has a kpi.")
            if kind == Panel.Type.SERIES:
                if not metric or not metric.get("name") or metric.get("bucket") not in BUCKETS:
                    raise ValidationError(f"{where}: a series panel needs metric {{name, bucket, agg}}.")
                if metric.get("agg", Aggregation.SUM) not in Aggregation.values:
                    raise ValidationError(f"{where}: unknown aggregation.")
            elif metric:
                raise ValidationError(f"{where}: only a series panel has a metric.")
            panel_range = _clean_range(panel.get("range"), where)
            for row in range(panel["y"], panel["y"] + panel["h"]):
                for column in range(panel["x"], panel["x"] + panel["w"]):
                    if (row, column) in covered:
                        other = covered[(row, column)]
                        raise ValidationError(
                            f"{where} overlaps panel {other} (column {column}, row {row}): no two panels may "
                            "cover the same cell."
                        )
                    covered[(row, column)] = index
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        built.append(
            Panel(
                position=index,
                title=panel.get("title") or "",
                type=kind,
                kpi=kpi if kind == Panel.Type.KPI else None,
                metric_name=metric["name"] if metric else "",
                metric_bucket=metric["bucket"] if metric else "",
                metric_agg=(metric.get("agg") or Aggregation.SUM) if metric else "",
                range=panel_range,
                x=panel["x"],
                y=panel["y"],
                w=panel["w"],
                h=panel["h"],
            )
        )
    if errors:
        raise ValidationError({"panels": errors})
    return built


def _kpis_by(field: str, values: Iterable) -> dict:
    values = {value for value in values if value is not None}
    found = {getattr(kpi, field): kpi for kpi in KPI.objects.filter(**{f"{field}__in": values})}
    unknown = sorted(values - set(found), key=str)
    if unknown:
        label = "slug" if field == "slug" else "id"
        listed = ", ".join(str(value) for value in unknown)
        raise ValidationError({"panels": f"Unknown KPI {label}{'s' if len(unknown) > 1 else ''}: {listed}."})
    return found


def _roles(names: Iterable[str]) -> list[Group]:
    names = set(names)
    roles = list(Group.objects.filter(name__in=names))
    unknown = sorted(names - {role.name for role in roles})
    if unknown:
        raise ValidationError({"shared_with": f"Unknown roles: {', '.join(unknown)}."})
    return roles


def _unique_slug(name: str, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:240] or "board"
    slug, n = base, 2
    others = Board.objects.all() if exclude_pk is None else Board.objects.exclude(pk=exclude_pk)
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _panels_replace(*, board: Board, panels: list[dict], kpi_field: str) -> None:
    built = _panels_build(panels, _kpis_by(kpi_field, (panel.get("kpi") for panel in panels)))
    board.panels.all().delete()
    for panel in built:
        panel.board = board
    Panel.objects.bulk_create(built)


@transaction.atomic
def board_create(
    *,
    owner: User,
    name: str,
    description: str = "",
    shared_with: Iterable[str] = (),
    panels: Iterable[dict] = (),
    kpi_field: str = "pk",
) -> Board:
    """A new board of *owner*'s; panels name their KPI by ``kpi_field`` (``pk``, or ``slug`` for imports)."""
    roles = _roles(shared_with)
    board = Board(owner=owner, name=name, description=description)
    board.slug = _unique_slug(name)
    board.save()
    board.shared_with.set(roles)
    _panels_replace(board=board, panels=list(panels), kpi_field=kpi_field)
    return board


@transaction.atomic
def board_update(*, board: Board, **fields) -> Board:
    """Change the given fields; ``panels``, when given, replace all the board's panels (or none, on an error)."""
    if "name" in fields:
        board.name = fields["name"]
        board.slug = _unique_slug(board.name, exclude_pk=board.pk)
    if "description" in fields:
        board.description = fields["description"]
    if "shared_with" in fields:
        board.shared_with.set(_roles(fields["shared_with"]))
    if "panels" in fields:
        _panels_replace(board=board, panels=list(fields["panels"]), kpi_field="pk")
    board.updated_at = timezone.now()
    board.save()
    return board


def board_delete(*, board: Board) -> None:
    board.delete()


def _panel_export(panel: Panel) -> dict:
    metric = (
        {"name": panel.metric_name, "bucket": panel.metric_bucket, "agg": panel.metric_agg}
        if panel.type == Panel.Type.SERIES
        else None
    )
    return {
        "title": panel.title,
        "type": panel.type,
        "kpi": panel.kpi.slug if panel.kpi is not None else None,
        "metric": metric,
        "range": panel.range,
        "x": panel.x,
        "y": panel.y,
        "w": panel.w,
        "h": panel.h,
    }


def board_export(*, board: Board) -> dict:
    """The board as JSON without ids or owner, KPIs by slug (read with :func:`board_import`)."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "name": board.name,
        "description": board.description,
        "shared_with": sorted(role.name for role in board.shared_with.all()),
        "panels": [_panel_export(panel) for panel in board.panels.all()],
    }


def board_import(*, owner: User, data: dict) -> Board:
    """A new board of *owner*'s from :func:`board_export`'s JSON; an unknown KPI slug is an error naming it."""
    return board_create(owner=owner, kpi_field="slug", **{key: data[key] for key in BOARD_FIELDS if key in data})
