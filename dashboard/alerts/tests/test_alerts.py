"""The alert services: evaluation (states, visibility, mute, repeat, compare-and-set, bounded queries), the write
triggers, and delivery through a real SMTP server and a real local HTTP receiver (signatures, retries, redirects)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from importlib import import_module
from zoneinfo import ZoneInfo

import environ
import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from accounts.tests.factories import UserFactory
from accounts.tests.test_mail_smtp import Collector, free_port
from dashboard.alerts.delivery import alert_delivery_attempt, alert_retry_delay
from dashboard.alerts.evaluation import alert_rule_test, alert_rule_transition, alerts_evaluate, alerts_run
from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule
from dashboard.alerts.queue import alerts_queue_register
from dashboard.alerts.tests.receivers import webhook_receiver
from dashboard.kpis.selectors import kpi_current_values, kpi_summary
from dashboard.metrics.models import Metric
from dashboard.metrics.services import metric_update, metrics_create
from dashboard.tests.factories import AlertRuleFactory, KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

GRANTS = import_module("dashboard.migrations.0006_grant_alert_permissions")


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def manager(user_with_role):
    return user_with_role("manager")


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def local_webhooks(settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.ALERTS_WEBHOOK_BACKOFF_SECONDS = 30
    settings.ALERTS_WEBHOOK_RETRIES = 5


def revenue(owner, value, when):
    return MetricFactory(owner=owner, name="revenue", value=value, timestamp=when)


def state_of(rule) -> str:
    rule.refresh_from_db()
    return rule.state


# --- Evaluation -------------------------------------------------------------------------------------------------


def test_rule_fires_then_resolves_and_mails_both(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)

    outcome = alerts_run(now=now)
    assert (outcome.evaluated, outcome.fired, outcome.attempts) == (1, 1, 1)
    rule.refresh_from_db()
    assert (rule.state, rule.last_value, rule.last_evaluated_at) == ("firing", 150.0, now)
    (fired,) = mail.outbox
    assert fired.to == ["ops@example.com"]
    assert "Firing" in fired.subject
    assert rule.name in fired.subject

    Metric.objects.update(value=40)
    later = now + timedelta(seconds=1)
    outcome = alerts_run(now=later)
    assert (outcome.resolved, outcome.fired) == (1, 0)
    assert state_of(rule) == "ok"
    assert "Resolved" in mail.outbox[1].subject
    assert list(rule.events.values_list("type", flat=True)) == ["alert.resolved", "alert.firing"]
    assert AlertDelivery.objects.filter(event__rule=rule, delivered_at__isnull=False).count() == 2


def test_unchanged_state_records_nothing_new(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    alerts_run(now=now)
    alerts_run(now=now + timedelta(minutes=5))
    assert rule.events.count() == 1
    assert len(mail.outbox) == 1
    rule.refresh_from_db()
    assert rule.last_evaluated_at == now + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("condition", "threshold", "value", "firing"),
    [
        ("above", 100, 100.5, True),
        ("above", 100, 100, False),
        ("below", 100, 99.5, True),
        ("below", 100, 100, False),
        ("below", 100, None, False),
    ],
)
def test_threshold_conditions(analyst, now, condition, threshold, value, firing):
    rule = AlertRuleFactory(created_by=analyst, condition=condition, threshold=threshold)
    if value is not None:
        revenue(analyst, value, now)
    alerts_evaluate(now=now)
    assert state_of(rule) == ("firing" if firing else "ok")


@pytest.mark.parametrize(
    ("statuses", "value", "firing"),
    [
        (["off_track"], 50, True),  # target 100, 10 % margin: below 90 is off track
        (["off_track"], 95, False),  # at risk
        (["at_risk"], 95, True),
        (["at_risk", "off_track"], 100, False),  # on track
        (["no_data"], None, True),
        (["off_track"], None, False),
    ],
)
def test_status_conditions(analyst, now, statuses, value, firing):
    rule = AlertRuleFactory(created_by=analyst, condition="status", statuses=statuses, threshold=None)
    if value is not None:
        revenue(analyst, value, now)
    alerts_evaluate(now=now)
    rule.refresh_from_db()
    assert rule.state == ("firing" if firing else "ok")
    assert rule.last_status == ("no_data" if value is None else rule.last_status)


def test_evaluation_uses_the_current_period_in_the_rules_time_zone(analyst):
    # 2026-03-31 23:30 UTC is already April in Berlin: a March metric is not in Berlin's current month.
    now = datetime(2026, 3, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    utc_rule = AlertRuleFactory(created_by=analyst, threshold=100, tz="UTC")
    berlin_rule = AlertRuleFactory(created_by=analyst, kpi=utc_rule.kpi, threshold=100, tz="Europe/Berlin")
    revenue(analyst, 150, now - timedelta(hours=3))  # 22:30 on March 31 in Berlin
    alerts_evaluate(now=now)
    assert (state_of(utc_rule), state_of(berlin_rule)) == ("firing", "ok")
    assert AlertEvent.objects.get(rule=utc_rule).period_start == datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))


def test_rule_sees_only_what_its_creator_may_see(analyst, manager, now):
    other = UserFactory()
    revenue(other, 500, now)
    analyst_rule = AlertRuleFactory(created_by=analyst, threshold=100)
    manager_rule = AlertRuleFactory(created_by=manager, kpi=analyst_rule.kpi, threshold=100)
    alerts_evaluate(now=now)
    assert (state_of(analyst_rule), state_of(manager_rule)) == ("ok", "firing")
    analyst_rule.refresh_from_db()
    assert analyst_rule.last_value is None  # the other user's 500 never reaches the analyst's rule


def test_visibility_is_read_at_evaluation_time(analyst, now):
    revenue(UserFactory(), 500, now)
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    alerts_evaluate(now=now)
    assert state_of(rule) == "ok"
    analyst.groups.add(Group.objects.get(name="manager"))
    rule = AlertRule.objects.get(pk=rule.pk)  # a fresh creator object: permissions are read again
    alerts_evaluate(now=now)
    assert state_of(rule) == "firing"


def test_deactivated_creators_rules_stop(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    analyst.is_active = False
    analyst.save()
    outcome = alerts_run(now=now)
    assert outcome.evaluated == 0
    rule.refresh_from_db()
    assert (rule.state, rule.last_evaluated_at) == ("ok", None)
    assert mail.outbox == []


def test_creator_who_may_not_read_kpis_gets_nothing_evaluated(now):
    creator = UserFactory()  # no role: no view_kpi
    rule = AlertRuleFactory(created_by=creator, threshold=100)
    revenue(creator, 150, now)
    outcome = alerts_evaluate(now=now)
    assert (outcome.evaluated, outcome.skipped) == (0, 1)
    assert state_of(rule) == "ok"


def test_muted_rule_changes_state_but_sends_nothing(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100, muted_until=now + timedelta(hours=1))
    revenue(analyst, 150, now)
    alerts_run(now=now)
    assert state_of(rule) == "firing"
    event = rule.events.get()
    assert (event.type, event.notified, event.deliveries.count()) == ("alert.firing", False, 0)
    assert mail.outbox == []


def test_repeat_notifies_again_while_firing(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100, repeat_minutes=30)
    revenue(analyst, 150, now)
    alerts_run(now=now)
    alerts_run(now=now + timedelta(minutes=29))
    assert len(mail.outbox) == 1
    outcome = alerts_run(now=now + timedelta(minutes=30))
    assert outcome.repeated == 1
    assert len(mail.outbox) == 2
    alerts_run(now=now + timedelta(minutes=45))
    assert len(mail.outbox) == 2
    assert list(rule.events.values_list("type", flat=True)) == ["alert.firing", "alert.firing"]


def test_without_repeat_a_firing_rule_notifies_once(analyst, now):
    AlertRuleFactory(created_by=analyst, threshold=100, repeat_minutes=None)
    revenue(analyst, 150, now)
    for minutes in (0, 60, 600):
        alerts_run(now=now + timedelta(minutes=minutes))
    assert len(mail.outbox) == 1


def test_a_stale_evaluator_records_nothing(analyst, now):
    """Compare-and-set: of two evaluators that read the same rule, only the first to write records the transition."""
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    first, second = AlertRule.objects.get(pk=rule.pk), AlertRule.objects.get(pk=rule.pk)
    won = alert_rule_transition(rule=first, state="firing", value=150, status="no_target", period_start=now, now=now)
    lost = alert_rule_transition(rule=second, state="firing", value=150, status="no_target", period_start=now, now=now)
    assert won is not None
    assert lost is None
    assert rule.events.count() == 1
    assert AlertDelivery.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluators_notify_once(now):
    # A superuser: the seeded roles do not survive another transactional test's flush.
    creator = UserFactory(is_superuser=True)
    rules = [AlertRuleFactory(created_by=creator, threshold=100) for _ in range(3)]
    revenue(creator, 150, now)
    start = threading.Barrier(6)
    outcomes, errors = [], []

    def evaluate():
        try:
            start.wait(timeout=10)
            outcomes.append(alerts_run(now=now))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(outcome.fired for outcome in outcomes) == 3
    assert AlertEvent.objects.count() == 3
    assert sorted(AlertEvent.objects.values_list("rule_id", flat=True)) == sorted(rule.pk for rule in rules)
    assert AlertDelivery.objects.count() == 3
    assert len(mail.outbox) == 3


def test_evaluation_queries_do_not_grow_with_rules(analyst, now, django_assert_num_queries):
    revenue(analyst, 10, now)
    AlertRuleFactory(created_by=analyst, threshold=100)
    alerts_evaluate(now=now)  # warms the creator's cached access profile (accounts.authz)
    # rules, the KPI values of the one period, the readings
    with django_assert_num_queries(3):
        alerts_evaluate(now=now)
    for metric in ("a", "b", "c", "d", "e"):
        AlertRuleFactory(created_by=analyst, threshold=100, kpi=KPIFactory(metric_name=metric))
    with django_assert_num_queries(3):
        outcome = alerts_evaluate(now=now)
    assert outcome.evaluated == 6


def test_current_values_match_the_summary(manager, now):
    for days in range(0, 90, 2):
        revenue(UserFactory(), days % 7, now - timedelta(days=days))
    kpis = [
        KPIFactory(period=period, aggregation=aggregation)
        for period in ("day", "week", "month", "quarter", "year")
        for aggregation in ("sum", "avg", "min", "max", "count", "last")
    ]
    tz = ZoneInfo("America/New_York")
    values = kpi_current_values(user=manager, kpis=kpis, tz=tz, now=now)
    for row in kpi_summary(user=manager, tz=tz, now=now):
        assert values[row.kpi.pk] == (row.current.period_start, row.current.value), row.kpi


# --- Triggers ---------------------------------------------------------------------------------------------------


def test_a_write_without_broker_marks_its_rules_in_one_query(
    analyst, now, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.CELERY_BROKER_URL = ""
    touched = AlertRuleFactory(created_by=analyst, threshold=100)
    untouched = AlertRuleFactory(created_by=analyst, threshold=100, kpi=KPIFactory(metric_name="visits"))
    with django_capture_on_commit_callbacks() as callbacks:
        metrics_create(owner=analyst, items=[{"name": "revenue", "value": 150, "timestamp": now}])
    with django_assert_num_queries(1):
        for callback in callbacks:
            callback()
    touched.refresh_from_db()
    untouched.refresh_from_db()
    requested = touched.evaluation_requested_at
    assert requested is not None
    assert abs(requested - timezone.now()) < timedelta(seconds=30)
    assert untouched.evaluation_requested_at is None
    assert touched.state == "ok"  # the write did not evaluate anything

    outcome = alerts_run(now=now, requested_only=True)
    assert (outcome.evaluated, outcome.fired) == (1, 1)
    touched.refresh_from_db()
    assert (touched.state, touched.evaluation_requested_at) == ("firing", None)


def test_an_import_without_broker_marks_every_unmarked_rule(analyst, settings, django_capture_on_commit_callbacks):
    from dashboard.alerts.evaluation import alerts_metrics_touched

    settings.CELERY_BROKER_URL = ""
    earlier = timezone.now() - timedelta(hours=1)
    unmarked = [AlertRuleFactory(created_by=analyst), AlertRuleFactory(kpi=KPIFactory(metric_name="visits"))]
    marked = AlertRuleFactory(created_by=analyst)
    AlertRule.objects.filter(pk=marked.pk).update(evaluation_requested_at=earlier)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_metrics_touched(names=None)  # what an import or an upload's deletion says
    for rule in unmarked:
        rule.refresh_from_db()
        requested = rule.evaluation_requested_at
        assert requested is not None
        assert abs(requested - timezone.now()) < timedelta(seconds=30)
    marked.refresh_from_db()
    assert marked.evaluation_requested_at == earlier  # kept: the earliest request stands


class RecordingQueue:
    """Stands in for the broker only in this test; the Celery worker test runs the real one."""

    def __init__(self):
        self.evaluations, self.deliveries = [], []

    def evaluate(self, *, metric_names):
        self.evaluations.append(metric_names)

    def deliver(self, *, delivery_id, eta):
        self.deliveries.append((delivery_id, eta))


@pytest.fixture
def recording_queue(settings):
    from dashboard.alerts.tasks import CeleryAlertQueue

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/14"
    queue = RecordingQueue()
    alerts_queue_register(queue)
    yield queue
    alerts_queue_register(CeleryAlertQueue())


def test_a_write_with_a_broker_queues_an_evaluation_of_its_metric_names(
    analyst, now, recording_queue, django_capture_on_commit_callbacks
):
    metric = revenue(analyst, 1, now)
    with django_capture_on_commit_callbacks(execute=True):
        metrics_create(owner=analyst, items=[{"name": "visits", "value": 1}, {"name": "revenue", "value": 2}])
        metric_update(metric=metric, name="signups")
    assert recording_queue.evaluations == [["revenue", "visits"], ["revenue", "signups"]]


def test_nothing_is_queued_before_the_write_commits(analyst, recording_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        metrics_create(owner=analyst, items=[{"name": "revenue", "value": 2}])
    assert recording_queue.evaluations == []
    assert len(callbacks) == 1


def test_alerts_evaluate_command(analyst, now):
    AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, timezone.now())
    call_command("alerts_evaluate", stdout=(out := __import__("io").StringIO()))
    assert "evaluated 1 rule(s), skipped 0: 1 fired, 0 resolved, 0 repeated; 1 delivery attempt(s)" in out.getvalue()
    assert len(mail.outbox) == 1


# --- Delivery ---------------------------------------------------------------------------------------------------


def _verify(received, secret: str) -> dict:
    parts = dict(item.split("=", 1) for item in received.headers["Dashboard-Signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    return json.loads(received.body)


def test_webhook_is_signed_and_retried_with_backoff_until_delivered(analyst, now, local_webhooks):
    with webhook_receiver(statuses=[500, 500, 200]) as receiver:
        rule = AlertRuleFactory(created_by=analyst, threshold=100, channels=[{"type": "webhook", "url": receiver.url}])
        revenue(analyst, 150, now)
        alerts_run(now=now)
        assert len(receiver.requests) == 1
        alerts_run(now=now + alert_retry_delay(1) - timedelta(seconds=1))  # not due yet
        assert len(receiver.requests) == 1
        retry_at = now + alert_retry_delay(1)
        alerts_run(now=retry_at)
        assert len(receiver.requests) == 2
        alerts_run(now=retry_at + alert_retry_delay(2))
        assert len(receiver.requests) == 3
        alerts_run(now=retry_at + timedelta(hours=1))
        assert len(receiver.requests) == 3  # delivered: nothing more

    event = rule.events.get()
    bodies = [_verify(received, rule.webhook_secret) for received in receiver.requests]
    assert len({received.body for received in receiver.requests}) == 1  # the same bytes on every retry
    assert {received.headers["Dashboard-Event-Id"] for received in receiver.requests} == {str(event.event_id)}
    body = bodies[0]
    assert body["id"] == str(event.event_id)
    assert (body["type"], body["value"], body["status"]) == ("alert.firing", 150.0, "on_track")
    assert body["alert"] == {"id": rule.pk, "name": rule.name}
    assert body["kpi"] == {
        "id": rule.kpi.pk,
        "name": rule.kpi.name,
        "unit": "",
        "target": 100.0,
        "direction": "up",
    }
    assert receiver.requests[0].path == "/hook?source=dashboard"
    attempts = [(d.attempt, d.status_code, d.delivered_at is not None) for d in event.deliveries.order_by("attempt")]
    assert attempts == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert event.deliveries.filter(scheduled_for__isnull=False).count() == 0


def test_retries_stop_after_the_configured_number(analyst, now, local_webhooks, settings):
    settings.ALERTS_WEBHOOK_RETRIES = 2
    with webhook_receiver(statuses=[503]) as receiver:
        AlertRuleFactory(created_by=analyst, threshold=100, channels=[{"type": "webhook", "url": receiver.url}])
        revenue(analyst, 150, now)
        for hours in range(0, 10):
            alerts_run(now=now + timedelta(hours=hours))
    assert len(receiver.requests) == 3  # the first attempt and two retries
    assert list(AlertDelivery.objects.values_list("attempt", "status_code", "error")) == [
        (1, 503, "HTTP 503."),
        (2, 503, "HTTP 503."),
        (3, 503, "HTTP 503."),
    ]
    assert not AlertDelivery.objects.filter(scheduled_for__isnull=False).exists()


def test_backoff_doubles(settings):
    settings.ALERTS_WEBHOOK_BACKOFF_SECONDS = 30
    assert [alert_retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_webhook_redirect_to_a_private_address_is_a_failed_attempt(analyst, now, local_webhooks):
    with webhook_receiver(host="127.0.0.2") as private, webhook_receiver(statuses=[302]) as receiver:
        receiver.location = f"http://127.0.0.2:{private.port}/internal"
        AlertRuleFactory(created_by=analyst, threshold=100, channels=[{"type": "webhook", "url": receiver.url}])
        revenue(analyst, 150, now)
        alerts_run(now=now)
    first = AlertDelivery.objects.get(attempt=1)
    assert (first.status_code, first.delivered_at) == (302, None)
    assert "redirects are not followed" in first.error
    assert private.requests == []
    assert AlertDelivery.objects.filter(attempt=2, scheduled_for__isnull=False).exists()


def test_delivery_checks_the_address_again(analyst, now, local_webhooks, settings):
    """Saved while its host was allowed; at delivery time it resolves to a refused address: nothing is sent."""
    with webhook_receiver() as receiver:
        AlertRuleFactory(created_by=analyst, threshold=100, channels=[{"type": "webhook", "url": receiver.url}])
        settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
        revenue(analyst, 150, now)
        alerts_run(now=now)
    assert receiver.requests == []
    delivery = AlertDelivery.objects.get()
    assert delivery.error.startswith("Refused:")
    assert "loopback" in delivery.error
    assert delivery.scheduled_for is None
    assert delivery.delivered_at is None


def test_unreachable_receiver_is_recorded_and_retried(analyst, now, local_webhooks):
    port = free_port()  # nothing listens there
    AlertRuleFactory(
        created_by=analyst, threshold=100, channels=[{"type": "webhook", "url": f"http://127.0.0.1:{port}/"}]
    )
    revenue(analyst, 150, now)
    alerts_run(now=now)
    first, following = AlertDelivery.objects.order_by("attempt")
    assert first.status_code is None
    assert "ConnectionRefusedError" in first.error
    assert following.attempt == 2
    assert following.scheduled_for == now + alert_retry_delay(1)


def test_claimed_attempt_is_made_once(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    outcome = alerts_evaluate(now=now)
    (delivery_id,) = outcome.deliveries
    assert alert_delivery_attempt(delivery_id=delivery_id, now=now) is not None
    assert alert_delivery_attempt(delivery_id=delivery_id, now=now) is None
    assert len(mail.outbox) == 1
    assert rule.events.get().deliveries.get().delivered_at is not None


def test_pending_deliveries_of_a_deactivated_creator_are_not_sent(analyst, now):
    AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    (delivery_id,) = alerts_evaluate(now=now).deliveries
    analyst.is_active = False
    analyst.save()
    delivery = alert_delivery_attempt(delivery_id=delivery_id, now=now)
    assert delivery is not None
    assert delivery.error == "Not sent: the rule's creator is deactivated."
    assert mail.outbox == []


def test_deliveries_to_a_removed_channel_are_not_sent(analyst, now):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    (delivery_id,) = alerts_evaluate(now=now).deliveries
    AlertRule.objects.filter(pk=rule.pk).update(channels=[{"type": "email", "to": ["new@example.com"]}])
    delivery = alert_delivery_attempt(delivery_id=delivery_id, now=now)
    assert delivery is not None
    assert delivery.error == "Not sent: the channel was removed from the rule."
    assert mail.outbox == []


def test_test_event_goes_to_every_channel(analyst, local_webhooks):
    with webhook_receiver() as receiver:
        rule = AlertRuleFactory(
            created_by=analyst,
            channels=[
                {"type": "email", "to": ["a@example.com", "b@example.com"]},
                {"type": "webhook", "url": receiver.url},
            ],
        )
        event = alert_rule_test(rule=rule)
    assert event.type == "alert.test"
    assert mail.outbox[0].to == ["a@example.com", "b@example.com"]
    assert mail.outbox[0].subject.startswith("[Dashboard] Test:")
    assert _verify(receiver.requests[0], rule.webhook_secret)["type"] == "alert.test"
    assert sorted(event.deliveries.values_list("channel", flat=True)) == ["email", "webhook"]


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in environ.Env.email_url_config(f"smtp://127.0.0.1:{controller.port}").items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "alerts@dashboard.test"
    settings.SITE_URL = "https://dash.example.com"
    try:
        yield handler
    finally:
        controller.stop()


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_firing_and_resolved_mails_through_a_real_smtp_server(smtp, analyst, now):
    rule = AlertRuleFactory(
        created_by=analyst,
        name="Revenue watch",
        condition="status",
        statuses=["off_track"],
        threshold=None,
        channels=[{"type": "email", "to": ["ops@example.com"]}],
        kpi=KPIFactory(name="Monthly revenue", unit="EUR", target=1000),
    )
    revenue(analyst, 120, now)
    alerts_run(now=now)
    Metric.objects.update(value=1200)
    alerts_run(now=now + timedelta(minutes=1))

    firing, resolved = smtp.messages
    for message in (firing, resolved):
        assert message["To"] == "ops@example.com"
        assert message["From"] == "alerts@dashboard.test"
    assert subject(firing) == "[Dashboard] Firing: Revenue watch — Monthly revenue is off track (120 EUR)"
    assert subject(resolved) == "[Dashboard] Resolved: Revenue watch — Monthly revenue is on track (1200 EUR)"
    body = firing.get_payload(decode=True).decode()
    assert "is firing: its condition (status is off track) holds" in body
    assert "Target: 1000 EUR (higher is better)" in body
    assert f"https://dash.example.com/admin/dashboard/kpi/{rule.kpi.pk}/chart/" in body
    assert f"https://dash.example.com/admin/dashboard/alertrule/{rule.pk}/events/" in body
    assert "no longer holds" in resolved.get_payload(decode=True).decode()
    assert rule.webhook_secret not in body


def test_smtp_failure_is_recorded_and_retried(settings, analyst, now):
    for key, value in environ.Env.email_url_config(f"smtp://127.0.0.1:{free_port()}").items():
        setattr(settings, key, value)
    AlertRuleFactory(created_by=analyst, threshold=100)
    revenue(analyst, 150, now)
    alerts_run(now=now)
    first, following = AlertDelivery.objects.order_by("attempt")
    assert "ConnectionRefusedError" in first.error
    assert first.delivered_at is None
    assert following.scheduled_for is not None


# --- Data migration ---------------------------------------------------------------------------------------------


def _alert_codenames(role: str) -> set[str]:
    return set(
        Group.objects.get(name=role)
        .permissions.filter(codename__endswith="_alertrule")
        .values_list("codename", flat=True)
    )


def test_alert_permissions_are_granted_idempotently_and_revoked():
    # The migration's own historical models (it flips models_module on the app config it is given: never the real one).
    apps = MigrationLoader(connection).project_state(("dashboard", "0006_grant_alert_permissions")).apps
    expected = {"view_alertrule", "add_alertrule", "change_alertrule", "delete_alertrule"}
    assert _alert_codenames("analyst") == _alert_codenames("manager") == expected
    assert _alert_codenames("viewer") == set()
    GRANTS.grant(apps, None)
    assert _alert_codenames("manager") == expected
    GRANTS.revoke(apps, None)
    assert _alert_codenames("analyst") == _alert_codenames("manager") == set()
    assert Group.objects.get(name="manager").permissions.filter(codename="view_kpi").exists()
    GRANTS.grant(apps, None)
    assert _alert_codenames("analyst") == expected
