"""A database that cannot be reached: every path answers 503 with Retry-After, logged as one line per request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError as DjangoOperationalError

from conftest import port_open
from core.exception_handler import unavailable_service

REPO = Path(__file__).resolve().parents[2]

# Each request through Django's test client in a fresh interpreter whose database is a port nobody listens on.
PROBE = """
import json, os, sys
sys.path.insert(0, {repo!r})
import django
django.setup()
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

token = AccessToken()
token["user_id"] = 1
client = Client(raise_request_exception=False)
requests = [
    ("POST", "/api/v1/auth/login", {{"email": "a@example.com", "password": "x" * 12}}, {{}}),
    ("GET", "/api/v1/dashboard/metrics", None, {{"HTTP_AUTHORIZATION": f"Bearer {{token}}"}}),
    ("POST", "/admin/login/", {{"username": "a@example.com", "password": "x"}}, {{}}),
    ("GET", "/admin/", None, {{"HTTP_COOKIE": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}}),
]
for method, path, body, headers in requests[: int(os.environ.get("PROBE_REQUESTS", len(requests)))]:
    if method == "POST" and path.startswith("/api/"):
        response = client.post(path, json.dumps(body), content_type="application/json", **headers)
    elif method == "POST":
        response = client.post(path, body, **headers)
    else:
        response = client.get(path, **headers)
    print("RESULT", json.dumps({{
        "path": path, "status": response.status_code, "type": response.get("Content-Type", ""),
        "retry_after": response.get("Retry-After"), "body": response.content.decode()[:300],
    }}), flush=True)
"""


def _dead_port() -> int:
    for port in range(1, 100):
        if not port_open("127.0.0.1", port):
            return port
    raise AssertionError("no closed port below 100")


def _run_probe(env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(repo=str(REPO))],
        cwd=tmp_path,
        env={**_base_env(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "outage-test-" + "k" * 50,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "ADMIN_REQUIRE_MFA": "false",
        "CACHE_DIR": str(tmp_path / "cache"),
        "LOG_LEVEL": "INFO",
    }


def _results(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line[len("RESULT ") :]) for line in result.stdout.splitlines() if line.startswith("RESULT ")]


def test_database_outage_is_a_503_with_retry_after_and_one_log_line_per_request(tmp_path):
    result = _run_probe({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{_dead_port()}/nothing"}, tmp_path)
    results = _results(result)
    assert len(results) == 4, result.stderr
    for outcome in results:
        assert outcome["status"] == 503, outcome
        assert outcome["retry_after"] == "5", outcome
        if outcome["path"].startswith("/api/"):
            assert outcome["type"] == "application/json"
            assert json.loads(outcome["body"]) == {
                "detail": "A backing service is unavailable; retry later.",
                "code": "service_unavailable",
            }
        else:
            assert outcome["type"].startswith("text/plain")
    # One line per request (the request log, naming the service), and no traceback anywhere.
    log_lines = [line for line in result.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert "Traceback" not in result.stderr
    assert len(log_lines) == 4, result.stderr
    for line, outcome in zip(log_lines, results, strict=True):
        assert f"{outcome['path']} 503" in line
        assert "WARNING dashboard.request" in line
        assert "unavailable=database: OperationalError" in line


def test_cache_outage_is_a_503_too(tmp_path):
    # Login is throttled through the shared cache before it reads the database: Redis down answers 503 first.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "REDIS_URL": f"redis://127.0.0.1:{_dead_port()}/0"}
    result = _run_probe({**env, "PROBE_REQUESTS": "1"}, tmp_path)
    (login,) = _results(result)
    assert login["path"] == "/api/v1/auth/login", result.stderr
    assert (login["status"], login["retry_after"]) == (503, "5")
    assert json.loads(login["body"])["code"] == "service_unavailable"
    assert "Traceback" not in result.stderr
    assert "unavailable=cache: ConnectionError" in result.stderr


def _psycopg_error(sqlstate: str | None) -> psycopg.Error:
    error = psycopg.errors.lookup(sqlstate)("boom") if sqlstate else psycopg.OperationalError("connection failed")
    return error


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        (None, "database"),  # refused, reset, closed: the client has no server to ask
        ("08006", "database"),  # connection_failure
        ("57P01", "database"),  # admin_shutdown (a restart)
        ("57P03", "database"),  # cannot_connect_now (starting up)
        ("53300", "database"),  # too_many_connections
        ("57014", None),  # query_canceled (statement timeout): a slow query, not an outage
        ("40P01", None),  # deadlock_detected
        ("42P01", None),  # undefined_table: a bug, stays a 500
    ],
)
def test_only_connection_level_errors_count_as_an_outage(sqlstate, expected):
    error = _psycopg_error(sqlstate)
    wrapped = DjangoOperationalError(str(error))
    wrapped.__cause__ = error
    assert unavailable_service(wrapped) == expected
    assert unavailable_service(error) == expected


def test_cache_and_broker_outages_are_recognised():
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError

    assert unavailable_service(RedisConnectionError("Connection refused")) == "cache"
    assert unavailable_service(BrokerError("Connection refused")) == "broker"
    assert unavailable_service(ValueError("nope")) is None
