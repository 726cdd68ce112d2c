"""Writes of the dashboard app: metrics and KPIs (``metrics``), metric file imports (``uploads``)."""

from dashboard.services.metrics import (
    kpi_create,
    kpi_delete,
    kpi_update,
    metric_delete,
    metric_update,
    metrics_create,
)

__all__ = ["kpi_create", "kpi_delete", "kpi_update", "metric_delete", "metric_update", "metrics_create"]
