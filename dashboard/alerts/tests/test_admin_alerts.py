"""Alert rules in the Django admin: creators see and change only their own, through the same checks as the API; each
rule's page of events and delivery attempts."""

import json
from http import HTTPStatus

import pytest
from django.utils import timezone

from dashboard.alerts.evaluation import alerts_run
from dashboard.alerts.models import AlertRule
from dashboard.tests.factories import AlertRuleFactory, KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/dashboard/alertrule/"


@pytest.fixture
def analyst(user_with_role, client):
    user = user_with_role("analyst", is_staff=True)
    client.force_login(user)
    return user


def form(kpi, **changes) -> dict:
    return {
        "name": "Revenue low",
        "kpi": kpi.pk,
        "condition": "below",
        "statuses": "[]",
        "threshold": "50",
        "tz": "UTC",
        "channels": json.dumps([{"type": "email", "to": ["ops@example.com"]}]),
        "repeat_minutes": "",
        "muted_until_0": "",
        "muted_until_1": "",
        **changes,
    }


def test_creators_see_only_their_own_rules(analyst, client):
    mine = AlertRuleFactory(created_by=analyst, name="mine-rule")
    theirs = AlertRuleFactory(name="their-rule")
    page = client.get(CHANGELIST).content.decode()
    assert "mine-rule" in page
    assert "their-rule" not in page
    assert client.get(f"{CHANGELIST}{mine.pk}/change/").status_code == HTTPStatus.OK
    assert client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code == HTTPStatus.FOUND  # "doesn't exist"
    assert client.get(f"{CHANGELIST}{theirs.pk}/events/").status_code == HTTPStatus.NOT_FOUND


def test_add_goes_through_the_rule_service_and_shows_the_secret_once(analyst, client):
    kpi = KPIFactory()
    response = client.post(f"{CHANGELIST}add/", form(kpi), follow=True)
    assert response.status_code == HTTPStatus.OK
    rule = AlertRule.objects.get()
    assert (rule.created_by, rule.condition, rule.threshold, rule.statuses) == (analyst, "below", 50.0, [])
    assert rule.webhook_secret.startswith("whsec_")
    assert rule.webhook_secret in response.content.decode()
    assert rule.webhook_secret not in client.get(f"{CHANGELIST}{rule.pk}/change/").content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": json.dumps([{"type": "webhook", "url": "http://169.254.169.254/"}])}, "metadata"),
        ({"channels": "[]"}, "At least one channel"),
        ({"condition": "status", "statuses": "[]"}, "non-empty list"),
    ],
)
def test_admin_refuses_what_the_api_refuses(analyst, client, settings, changes, message):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    response = client.post(f"{CHANGELIST}add/", form(KPIFactory(), **changes))
    assert response.status_code == HTTPStatus.OK
    assert message in response.content.decode()
    assert not AlertRule.objects.exists()


def test_viewer_without_alert_permissions_gets_no_admin(user_with_role, client):
    viewer = user_with_role("viewer", is_staff=True)
    client.force_login(viewer)
    rule = AlertRuleFactory(created_by=viewer)
    assert client.get(CHANGELIST).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"{CHANGELIST}{rule.pk}/events/").status_code == HTTPStatus.FORBIDDEN


def test_events_page_lists_events_and_attempts(analyst, client):
    rule = AlertRuleFactory(created_by=analyst, threshold=100, name="Watch revenue")
    now = timezone.now()
    MetricFactory(owner=analyst, name="revenue", value=150, timestamp=now)
    alerts_run(now=now)
    response = client.get(f"{CHANGELIST}{rule.pk}/events/")
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    event = rule.events.get()
    assert str(event.event_id) in page
    assert "alert.firing" in page
    assert "email #1:" in page
    assert "delivered" in page
    assert 'id="alert-state" class="alert-state state-firing"' in page
    assert f'href="{CHANGELIST}{rule.pk}/events/"' in client.get(f"{CHANGELIST}{rule.pk}/change/").content.decode()


def test_metric_edits_in_the_admin_mark_the_rules_on_that_metric(
    analyst, client, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_BROKER_URL = ""
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    metric = MetricFactory(owner=analyst, name="other", value=1, timestamp=timezone.now())
    with_changes = {"name": "revenue", "value": "150", "timestamp_0": "2026-01-01", "timestamp_1": "00:00:00"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/dashboard/metric/{metric.pk}/change/", with_changes)
    assert response.status_code == HTTPStatus.FOUND
    rule.refresh_from_db()
    assert rule.evaluation_requested_at is not None
