"""factory-boy factories for dashboard data."""

from datetime import UTC, datetime, timedelta

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.tests.factories import UserFactory
from core.tests.factories import ModelFactory
from dashboard.alerts.models import AlertRule
from dashboard.boards.models import Board, Panel
from dashboard.kpis.models import KPI
from dashboard.metrics.models import Metric
from dashboard.uploads.models import Upload

STORED_CSV = b"name,value,timestamp\nvisits,3,2026-01-01\nvisits,4.5,2026-01-02T12:00:00+02:00\n"


class MetricFactory(ModelFactory[Metric]):
    class Meta:
        model = Metric

    name = "revenue"
    value = factory.Sequence(lambda n: float(n))
    timestamp = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC).replace(hour=n % 24))
    owner = factory.SubFactory(UserFactory)


class UploadFactory(ModelFactory[Upload]):
    """An upload record that imported nothing; pass ``status`` and counts as a test needs.

    ``age`` and ``started`` (timedeltas) date its creation and start that long ago; ``stored=True`` gives it a stored
    CSV file (saved through the default storage, as an upload's file is).
    """

    class Meta:
        model = Upload

    class Params:
        age = timedelta(0)
        started = None
        stored = factory.Trait(
            file=factory.LazyFunction(lambda: default_storage.save("uploads/test/metrics.csv", ContentFile(STORED_CSV)))
        )

    filename = "metrics.csv"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    status = Upload.Status.SUCCEEDED
    created_by = factory.SubFactory(UserFactory)
    created_at = factory.LazyAttribute(lambda upload: timezone.now() - upload.age)
    started_at = factory.LazyAttribute(
        lambda upload: None if upload.started is None else timezone.now() - upload.started
    )


class KPIFactory(ModelFactory[KPI]):
    class Meta:
        model = KPI

    name = factory.Sequence(lambda n: f"KPI {n}")
    slug = factory.Sequence(lambda n: f"kpi-{n}")
    metric_name = "revenue"
    aggregation = "sum"
    period = "month"
    target = 100.0
    direction = "up"


class AlertRuleFactory(ModelFactory[AlertRule]):
    """A rule firing when its KPI's current value is above 100, telling one mailbox."""

    class Meta:
        model = AlertRule

    name = factory.Sequence(lambda n: f"Alert {n}")
    kpi = factory.SubFactory(KPIFactory)
    condition = "above"
    threshold = 100.0
    tz = "UTC"
    channels = factory.LazyFunction(lambda: [{"type": "email", "to": ["ops@example.com"]}])
    webhook_secret = factory.Sequence(lambda n: f"whsec_test_{n:040d}")
    created_by = factory.SubFactory(UserFactory)


class BoardFactory(ModelFactory[Board]):
    """A board without panels; ``shared_with=[...]`` takes role names."""

    class Meta:
        model = Board
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Board {n}")
    slug = factory.Sequence(lambda n: f"board-{n}")
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def shared_with(self, create, extracted, **kwargs):
        if create and extracted:
            from django.contrib.auth.models import Group

            self.shared_with.set(Group.objects.filter(name__in=extracted))


def board_with_three_panels(board: Board, kpi: KPI, *, titles: tuple[str, str, str], height: int) -> Board:
    """*board* laid out with a KPI panel (left) and a 30-day revenue series (right) of *height* rows, and a summary
    panel three rows high beneath them; *titles* in that order."""
    kpi_title, series_title, summary_title = titles
    Panel.objects.bulk_create(
        [
            Panel(board=board, position=0, type="kpi", kpi=kpi, title=kpi_title, x=0, y=0, w=4, h=height),
            Panel(
                board=board,
                position=1,
                type="series",
                title=series_title,
                metric_name="revenue",
                metric_bucket="day",
                metric_agg="sum",
                range="last_30_days",
                x=4,
                y=0,
                w=8,
                h=height,
            ),
            Panel(board=board, position=2, type="summary", title=summary_title, x=0, y=height, w=12, h=3),
        ]
    )
    return board
