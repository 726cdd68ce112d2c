"""The dashboard's models, gathered for Django (app label ``dashboard``); each is defined in its feature's package.

Migrations name two callables by this module's path (``upload_file_path``, ``_default_time_zone``): they are the same
objects as the features', so the migration state and the models agree.
"""

from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule, _default_time_zone
from dashboard.boards.models import Board, Panel
from dashboard.kpis.models import KPI, KPI_NAME_TAKEN, Period
from dashboard.metrics.models import Aggregation, Metric
from dashboard.rollup.models import MetricDay, MetricHour, MetricTotal, RollupCell
from dashboard.uploads.models import Upload, upload_file_path

__all__ = [
    "KPI",
    "KPI_NAME_TAKEN",
    "Aggregation",
    "AlertDelivery",
    "AlertEvent",
    "AlertRule",
    "Board",
    "Metric",
    "MetricDay",
    "MetricHour",
    "MetricTotal",
    "Panel",
    "Period",
    "RollupCell",
    "Upload",
    "_default_time_zone",
    "upload_file_path",
]
