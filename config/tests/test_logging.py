"""The request log: one line per request with its fields; no secret ever logged."""

import json
import logging
from http import HTTPStatus

import pytest

from config.logging import JsonFormatter, RequestIdFilter, redact

pytestmark = pytest.mark.django_db


def request_records(caplog):
    return [r for r in caplog.records if r.name == "dashboard.request"]


def test_one_line_per_request_with_its_fields(user, user_client, caplog):
    with caplog.at_level(logging.INFO):
        response = user_client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="trace-42")
    assert response.status_code == HTTPStatus.OK
    (record,) = request_records(caplog)
    assert (record.method, record.path, record.status, record.user_id) == ("GET", "/api/v1/users/me", 200, user.pk)
    assert record.request_id == "trace-42"
    assert record.duration_ms >= 0


def test_anonymous_request_logs_no_user(client, caplog):
    with caplog.at_level(logging.INFO):
        client.get("/healthz")
    (record,) = request_records(caplog)
    assert record.user_id is None


def test_secrets_never_reach_the_logs(user, client_for, caplog, password):
    client = client_for(user)
    token = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/users/me", {"password": password, "refresh": token}, format="json")
        client.get("/api/v1/users/me?access=" + token)
        client.get("/api/v1/no-such-path", HTTP_AUTHORIZATION="Bearer " + token)
    formatter = JsonFormatter()
    request_id_filter = RequestIdFilter()
    lines = []
    for record in caplog.records:
        request_id_filter.filter(record)
        lines.append(formatter.format(record))
    text = "\n".join(lines) + caplog.text
    assert lines
    assert token not in text
    assert password not in text
    assert user.password not in text


def test_json_formatter_writes_one_object_per_line(caplog):
    record = logging.LogRecord("dashboard.request", logging.INFO, __file__, 1, "GET / 200", None, None)
    record.status = 200
    RequestIdFilter().filter(record)
    payload = json.loads(JsonFormatter().format(record))
    assert payload["message"] == "GET / 200"
    assert payload["status"] == 200
    assert payload["request_id"] == "-"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ('{"password": "hunter2-is-long"}', "hunter2-is-long"),
        ("token=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln", "eyJhbGciOiJIUzI1NiJ9"),
        ("hash bcrypt_sha256$$2b$12$abcdefghijk", "abcdefghijk"),
    ],
)
def test_redaction(text, secret):
    assert secret not in redact(text)
