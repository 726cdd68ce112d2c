"""Concurrent duplicates of one Idempotency-Key write once: two threads, and two gunicorn processes.

PostgreSQL only: the claims must be committed for the other connection (or process) to see them, and the
"still in progress" window is held open with a real table lock, not a mock.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from accounts.services.tokens import token_pair_issue
from accounts.tests.factories import RoleFactory, UserWithRolesFactory, api_key_issue
from conftest import port_open
from dashboard.metrics.models import Metric
from idempotency.models import IdempotencyRecord

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

METRICS = "/api/v1/dashboard/metrics"
REPO_ROOT = Path(__file__).resolve().parents[2]
BODY = {"name": "m", "value": 1}


@pytest.fixture
def analyst():
    # Transactional tests flush the database, seeded roles included: grant the permissions directly.
    role = RoleFactory(name=f"pusher-{uuid.uuid4().hex[:8]}", permissions=["dashboard.add_metric"])
    return UserWithRolesFactory(roles=[role.name])


def _post_in_thread(token: str, key: str, barrier: threading.Barrier | None = None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    try:
        if barrier is not None:
            barrier.wait(timeout=10)
        response = client.post(METRICS, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
        return response.status_code, response.get("Idempotent-Replayed"), response.json()
    finally:
        connections.close_all()


def _wait_for(predicate, timeout: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def metrics_table_locked():
    """Hold an EXCLUSIVE lock on the metrics table (reads pass, writes wait) until the block ends."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE dashboard_metric IN EXCLUSIVE MODE")
        yield


@pytest.mark.parametrize("attempt", range(5))
def test_two_threads_same_key_same_body_write_exactly_once(analyst, attempt):
    token = token_pair_issue(user=analyst)["access"]
    key = f"race-{attempt}-{uuid.uuid4().hex}"
    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: _post_in_thread(token, key, barrier), range(2)))
    assert Metric.objects.count() == 1
    fresh = [r for r in results if r[0] == HTTPStatus.CREATED and r[1] is None]
    assert len(fresh) == 1, results
    for status, replayed, body in results:
        if (status, replayed, body) in fresh:
            continue
        # The duplicate either found the first still running or, if it came later, replayed its response.
        assert (status == HTTPStatus.CONFLICT and body["code"] == "idempotency_in_progress") or (
            status == HTTPStatus.CREATED and replayed == "true" and body == fresh[0][2]
        ), results


def test_a_duplicate_while_the_first_runs_is_409_then_replays(analyst):
    token = token_pair_issue(user=analyst)["access"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        with metrics_table_locked():
            first = pool.submit(_post_in_thread, token, "held")
            _wait_for(lambda: IdempotencyRecord.objects.filter(key="held").exists(), what="the first claim")
            duplicate = _post_in_thread(token, "held")
            assert duplicate[0] == HTTPStatus.CONFLICT
            assert duplicate[2]["code"] == "idempotency_in_progress"
        status, replayed, body = first.result(timeout=30)
    assert (status, replayed) == (HTTPStatus.CREATED, None)
    assert _post_in_thread(token, "held") == (HTTPStatus.CREATED, "true", body)
    assert Metric.objects.count() == 1


# --- Two gunicorn processes --------------------------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def gunicorn_server(tmp_path: Path, name: str):
    """One single-worker gunicorn on a free port, on the test database; yields its base URL."""
    log = tmp_path / f"{name}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "CELERY_", "REDIS_"))}
    env.update(
        DATABASE_URL=_database_url(),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY="idempotency-test-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        CACHE_DIR=str(tmp_path / "cache"),
        LOG_LEVEL="WARNING",
    )
    env.update(WEB_CONCURRENCY="1", WEB_TIMEOUT="60")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--bind",
        "127.0.0.1:0",
        "--log-level",
        "info",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        port = None

        def listening():
            nonlocal port
            for line in log.read_text().splitlines():
                if "Listening at: http://127.0.0.1:" in line:
                    port = int(line.rsplit(":", 1)[1].split()[0])
            return port is not None and port_open("127.0.0.1", port)

        _wait_for(listening, timeout=30, what=f"gunicorn {name} to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _http_post(base: str, raw_key: str, idempotency_key: str):
    request = urllib.request.Request(
        base + METRICS,
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {raw_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Idempotent-Replayed"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Idempotent-Replayed"), json.loads(error.read())


def test_duplicates_across_two_gunicorn_processes_write_once(analyst, tmp_path):
    raw_key = api_key_issue(analyst, ["dashboard.add_metric"]).key
    with gunicorn_server(tmp_path, "one") as one, gunicorn_server(tmp_path, "two") as two:
        with ThreadPoolExecutor(max_workers=1) as pool:
            with metrics_table_locked():
                first = pool.submit(_http_post, one, raw_key, "cross-process")
                _wait_for(
                    lambda: IdempotencyRecord.objects.filter(key="cross-process").exists(),
                    what="the claim of process one",
                )
                status, _, body = _http_post(two, raw_key, "cross-process")
                assert (status, body["code"]) == (HTTPStatus.CONFLICT, "idempotency_in_progress")
            status, replayed, body = first.result(timeout=30)
        assert (status, replayed) == (HTTPStatus.CREATED, None)
        assert _http_post(two, raw_key, "cross-process") == (HTTPStatus.CREATED, "true", body)
        changed = dict(BODY, value=2)
        request = urllib.request.Request(
            two + METRICS,
            data=json.dumps(changed).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        )
        request.add_header("Idempotency-Key", "cross-process")
        with pytest.raises(urllib.error.HTTPError) as reused:
            urllib.request.urlopen(request, timeout=30)
        assert reused.value.code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert Metric.objects.count() == 1
    assert Metric.objects.get().owner == analyst
