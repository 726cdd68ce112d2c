"""Alert rules through HTTP: CRUD of one's own rules, validation, secrets, events, test notifications, the schema."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core import mail
from django.utils import timezone

from dashboard.alerts.evaluation import alerts_run
from dashboard.alerts.models import AlertRule
from dashboard.alerts.tests.receivers import webhook_receiver
from dashboard.tests.factories import AlertRuleFactory, KPIFactory, MetricFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/dashboard/alerts"
CONTRACT_FIELDS = {
    "id",
    "name",
    "kpi",
    "condition",
    "statuses",
    "threshold",
    "tz",
    "channels",
    "repeat_minutes",
    "muted_until",
    "state",
    "last_value",
    "last_status",
    "last_evaluated_at",
    "created_by",
    "created_at",
}


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def client(analyst, client_for):
    return client_for(analyst)


@pytest.fixture
def kpi():
    return KPIFactory()


def new_rule(kpi, /, **changes) -> dict:
    return {
        "name": "Revenue off track",
        "kpi": kpi.pk,
        "condition": "status",
        "statuses": ["off_track", "at_risk"],
        "channels": [{"type": "email", "to": ["ops@example.com"]}],
        **changes,
    }


def test_create_returns_the_rule_and_its_secret_once(client, analyst, kpi, settings):
    response = client.post(URL, new_rule(kpi), format="json")
    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    assert set(body) == CONTRACT_FIELDS | {"webhook_secret"}
    assert body["webhook_secret"].startswith("whsec_")
    assert len(body["webhook_secret"]) >= 40
    assert (body["state"], body["tz"], body["created_by"], body["threshold"]) == (
        "ok",
        settings.TIME_ZONE,
        analyst.pk,
        None,
    )
    assert body["statuses"] == ["at_risk", "off_track"]
    rule = AlertRule.objects.get(pk=body["id"])
    assert rule.webhook_secret == body["webhook_secret"]
    for response in (client.get(f"{URL}/{rule.pk}"), client.get(URL), client.patch(f"{URL}/{rule.pk}", {"name": "X"})):
        assert response.status_code == HTTPStatus.OK
        assert body["webhook_secret"] not in response.content.decode()


def test_rotate_secret_shows_a_new_one(client, analyst):
    rule = AlertRuleFactory(created_by=analyst)
    old = rule.webhook_secret
    response = client.post(f"{URL}/{rule.pk}/rotate-secret")
    assert response.status_code == HTTPStatus.OK
    secret = response.json()["webhook_secret"]
    rule.refresh_from_db()
    assert secret == rule.webhook_secret != old


def test_list_is_paginated_and_own_rules_only(
    client, analyst, django_assert_max_num_queries, django_assert_num_queries
):
    AlertRuleFactory(created_by=analyst, name="R0")
    client.get(URL)  # warms the caller's cached access profile (accounts.authz)
    # user, count, page (KPI and creator joined)
    with django_assert_num_queries(3) as small:
        client.get(URL)
    mine = [AlertRule.objects.get(name="R0")] + [AlertRuleFactory(created_by=analyst, name=f"R{n}") for n in (1, 2)]
    AlertRuleFactory()
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(URL)
    body = response.json()
    assert body["count"] == 3
    assert [item["id"] for item in body["results"]] == [rule.pk for rule in mine]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_rule_is_not_found(client, method):
    other = AlertRuleFactory()
    response = getattr(client, method)(f"{URL}/{other.pk}", {"name": "x"}, format="json")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"
    assert AlertRule.objects.get(pk=other.pk).name == other.name


@pytest.mark.parametrize("action", ["events", "test", "rotate-secret"])
def test_another_users_rule_actions_are_not_found(client, action):
    other = AlertRuleFactory()
    method = "get" if action == "events" else "post"
    response = getattr(client, method)(f"{URL}/{other.pk}/{action}")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_superuser_sees_every_rule(superuser, client_for):
    rules = [AlertRuleFactory(), AlertRuleFactory()]
    body = client_for(superuser).get(URL).json()
    assert {item["id"] for item in body["results"]} == {rule.pk for rule in rules}


def test_patch_checks_the_whole_rule(client, analyst):
    rule = AlertRuleFactory(created_by=analyst, condition="above", threshold=5)
    response = client.patch(f"{URL}/{rule.pk}", {"condition": "status"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "statuses" in response.json()["errors"]
    response = client.patch(f"{URL}/{rule.pk}", {"condition": "status", "statuses": ["no_data"]}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert (response.json()["statuses"], response.json()["threshold"]) == (["no_data"], None)


def test_read_only_fields_are_ignored(client, analyst, kpi):
    body = client.post(
        URL, new_rule(kpi, state="firing", created_by=999, last_value=5, webhook_secret="mine"), format="json"
    ).json()
    assert (body["state"], body["created_by"], body["last_value"]) == ("ok", analyst.pk, None)
    assert body["webhook_secret"] != "mine"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"condition": "sideways"}, "condition"),
        ({"statuses": []}, "statuses"),
        ({"statuses": ["on_track"]}, "statuses"),
        ({"statuses": "off_track"}, "statuses"),
        ({"condition": "above", "threshold": None}, "threshold"),
        ({"condition": "below"}, "threshold"),
        ({"condition": "above", "threshold": "NaN"}, "threshold"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"channels": []}, "channels"),
        ({"channels": "email"}, "channels"),
        ({"channels": [{"type": "sms", "to": ["+1"]}]}, "channels"),
        ({"channels": [{"type": "email", "to": []}]}, "channels"),
        ({"channels": [{"type": "email", "to": ["not an address"]}]}, "channels"),
        ({"channels": [{"type": "email", "to": "ops@example.com"}]}, "channels"),
        ({"channels": [{"type": "email", "to": ["a@example.com"], "cc": ["b@example.com"]}]}, "channels"),
        ({"channels": [{"type": "webhook"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "ftp://example.com/"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "http://127.0.0.1/hook"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "http://[::1]:8080/"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "http://2130706433/"}]}, "channels"),
        ({"channels": [{"type": "webhook", "url": "http://0x7f.1/"}]}, "channels"),
        ({"kpi": 999999}, "kpi"),
        ({"kpi": None}, "kpi"),
        ({"name": ""}, "name"),
        ({"repeat_minutes": 0}, "repeat_minutes"),
        ({"muted_until": "soon"}, "muted_until"),
    ],
)
def test_bad_rules_are_field_errors(client, kpi, settings, changes, field):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = []
    response = client.post(URL, new_rule(kpi, **changes), format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body


def test_webhook_to_an_allowed_local_host_is_accepted(client, kpi, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    response = client.post(
        URL, new_rule(kpi, channels=[{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]), format="json"
    )
    assert response.status_code == HTTPStatus.CREATED, response.json()
    assert response.json()["channels"] == [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]


def test_delete(client, analyst):
    rule = AlertRuleFactory(created_by=analyst)
    assert client.delete(f"{URL}/{rule.pk}").status_code == HTTPStatus.NO_CONTENT
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_events_list_transitions_and_attempts(client, analyst):
    rule = AlertRuleFactory(created_by=analyst, threshold=100)
    now = timezone.now()
    metric = MetricFactory(owner=analyst, name="revenue", value=150, timestamp=now)
    alerts_run(now=now)
    metric.value = 1
    metric.save()
    alerts_run(now=now)
    response = client.get(f"{URL}/{rule.pk}/events?limit=1")
    body = response.json()
    assert body["count"] == 2
    assert body["next"] is not None
    (event,) = body["results"]
    assert event["type"] == "alert.resolved"
    assert event["deliveries"][0]["channel"] == "email"
    assert event["deliveries"][0]["attempt"] == 1
    assert event["deliveries"][0]["delivered_at"] is not None
    assert {"event_id", "type", "created_at", "deliveries"} <= set(event)
    assert {"channel", "attempt", "status_code", "error", "delivered_at"} <= set(event["deliveries"][0])


def test_events_query_count_is_constant(client, analyst, django_assert_max_num_queries, django_assert_num_queries):
    rule = AlertRuleFactory(created_by=analyst, threshold=100, repeat_minutes=1)
    now = timezone.now()
    MetricFactory(owner=analyst, name="revenue", value=150, timestamp=now)
    alerts_run(now=now)
    # user, user permissions, group permissions, the rule, the count, the page, the page's attempts
    with django_assert_max_num_queries(7) as small:
        client.get(f"{URL}/{rule.pk}/events")
    for minutes in range(1, 5):
        alerts_run(now=now + timedelta(minutes=minutes))
    assert rule.events.count() == 5
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(f"{URL}/{rule.pk}/events")
    assert response.json()["count"] == 5


def test_test_sends_a_test_event(client, analyst, settings):
    settings.ALERTS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with webhook_receiver() as receiver:
        rule = AlertRuleFactory(created_by=analyst, channels=[{"type": "webhook", "url": receiver.url}])
        response = client.post(f"{URL}/{rule.pk}/test")
    assert response.status_code == HTTPStatus.ACCEPTED
    body = response.json()
    assert body["type"] == "alert.test"
    assert receiver.requests[0].headers["Dashboard-Event-Id"] == body["event_id"]
    assert body["deliveries"][0]["status_code"] == 200
    events = client.get(f"{URL}/{rule.pk}/events").json()
    assert events["results"][0]["event_id"] == body["event_id"]


def test_test_mails_the_rules_recipients(client, analyst):
    rule = AlertRuleFactory(created_by=analyst, channels=[{"type": "email", "to": ["x@example.com"]}])
    assert client.post(f"{URL}/{rule.pk}/test").status_code == HTTPStatus.ACCEPTED
    assert mail.outbox[0].to == ["x@example.com"]


def test_schema_tags_alert_operations(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/dashboard/alerts")
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operations) == 8
    assert all(operation["tags"] == ["alerts"] for operation in operations)
    test_operation = schema["paths"]["/api/v1/dashboard/alerts/{id}/test/"]["post"]
    assert "202" in test_operation["responses"]
    create = schema["paths"]["/api/v1/dashboard/alerts/"]["post"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "webhook_secret" in schema["components"]["schemas"][created]["properties"]
    read = schema["paths"]["/api/v1/dashboard/alerts/{id}/"]["get"]["responses"]["200"]["content"]
    shown = read["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "webhook_secret" not in schema["components"]["schemas"][shown]["properties"]
