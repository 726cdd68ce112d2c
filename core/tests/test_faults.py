"""Faults against a real server: the project under gunicorn (its gunicorn.conf.py) on a PostgreSQL cluster of its own,
which the tests restart under load and in the middle of an upload's COPY. Never the shared cluster.

PostgreSQL only; the cluster, its database and the server are made once for the module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from conftest import port_open
from core.tests.clusters import Cluster, cluster_root, free_port, server_binaries_available

pytestmark = pytest.mark.postgres_only

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "faults-Password-2026"
EMAIL = "writer@example.com"
SERVICE_UNAVAILABLE = {"detail": "A backing service is unavailable; retry later.", "code": "service_unavailable"}


@dataclass
class Server:
    cluster: Cluster
    database: str
    api: str
    process: subprocess.Popen
    log: Path
    token: str

    def rows(self, sql: str, params=None):
        return self.cluster.query(sql, self.database, params)

    def workers(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return {int(pid) for pid in children.split()}

    def restart_database(self, *, down_for: float) -> tuple[float, float]:
        """Stop the cluster as an operator's restart does (sessions terminated), keep it down, start it again;
        returns (monotonic time the stop began, monotonic time it accepts connections again)."""
        stopping = time.monotonic()
        self.cluster.stop(mode="fast")
        time.sleep(down_for)
        self.cluster.start()
        return stopping, time.monotonic()


def call(method: str, url: str, *, body: bytes | None = None, token: str | None = None, content_type=None):
    """One HTTP request; returns (status, headers, parsed JSON body or None)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", content_type or "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, error.headers, json.loads(raw) if raw.startswith(b"{") else raw.decode()


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    if not server_binaries_available():
        if request.config.getoption("--require-services"):
            pytest.fail("PostgreSQL 15 server binaries are not available (--require-services is set)")
        pytest.skip("PostgreSQL 15 server binaries are not available on this machine")
    scratch = tmp_path_factory.mktemp("faults")
    with cluster_root("dash-faults") as root:
        cluster = Cluster(root, "main")
        try:
            cluster.initdb()
            cluster.start()
            database = f"dash_{uuid.uuid4().hex[:8]}"
            cluster.query(f'CREATE DATABASE "{database}"')
            env = {name: value for name, value in os.environ.items() if not name.startswith(("POSTGRES_", "DJANGO_"))}
            env.update(
                DATABASE_URL=f"{cluster.url}/{database}",
                DEBUG="false",
                SECRET_KEY="faults-test-" + "k" * 50,
                ALLOWED_HOSTS="127.0.0.1",
                SECURE_SSL_REDIRECT="false",
                LOG_LEVEL="WARNING",
                REDIS_URL="",
                CELERY_BROKER_URL="",
                CACHE_DIR=str(scratch / "cache"),
                MEDIA_ROOT=str(scratch / "media"),
                THROTTLE_LOGIN="1000/min",
                WEB_CONCURRENCY="2",
                HOME=str(scratch),
            )
            python = sys.executable
            subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
            create_user = f"from accounts.models import User\nUser.objects.create_superuser({EMAIL!r}, {PASSWORD!r})\n"
            subprocess.run([python, "manage.py", "shell", "-c", create_user], cwd=REPO, env=env, check=True)
            port = free_port()
            log = scratch / "server.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
                    cwd=REPO,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            try:
                wait_for(lambda: port_open("127.0.0.1", port), timeout=60, what="gunicorn to listen")
                api = f"http://127.0.0.1:{port}/api/v1"
                body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
                status, _, tokens = call("POST", f"{api}/auth/login", body=body)
                assert status == HTTPStatus.OK, tokens
                yield Server(cluster, database, api, process, log, tokens["access"])
            finally:
                process.terminate()
                process.wait(timeout=60)
        finally:
            cluster.stop()


@dataclass
class Outcome:
    kind: str  # "write" or "read"
    started: float
    ended: float
    status: int
    retry_after: str | None
    body: Any  # the parsed JSON body, or the raw text of a non-JSON error
    value: float | None = None


def _client(server: Server, number: int, stop: threading.Event, outcomes: list[Outcome]) -> None:
    sequence = 0
    while not stop.is_set():
        sequence += 1
        writing = sequence % 2 == number % 2
        started = time.monotonic()
        if writing:
            value = float(number * 1_000_000 + sequence)
            body = json.dumps({"name": "fault", "value": value}).encode()
            status, headers, payload = call("POST", f"{server.api}/dashboard/metrics", body=body, token=server.token)
        else:
            value = None
            url = f"{server.api}/dashboard/metrics?limit=5"
            status, headers, payload = call("GET", url, token=server.token)
        ended = time.monotonic()
        outcome = Outcome("write" if writing else "read", started, ended, status, headers.get("Retry-After"), payload)
        outcome.value = value
        outcomes.append(outcome)
        time.sleep(0.01)


def test_database_restart_under_reads_and_writes_loses_nothing_and_recovers_by_itself(server):
    workers_before = server.workers()
    log_offset = server.log.stat().st_size
    outcomes: list[Outcome] = []
    stop = threading.Event()
    clients = [threading.Thread(target=_client, args=(server, n, stop, outcomes)) for n in range(6)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.5)
        down_from, up_at = server.restart_database(down_for=1.0)
        time.sleep(2.5)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=130)
    grace = 1.0  # the first requests after the start may still meet a connection the restart broke

    assert {outcome.status for outcome in outcomes} <= {
        HTTPStatus.OK,
        HTTPStatus.CREATED,
        HTTPStatus.SERVICE_UNAVAILABLE,
    }
    unavailable = [outcome for outcome in outcomes if outcome.status == HTTPStatus.SERVICE_UNAVAILABLE]
    assert unavailable, "no request met the restart"
    for outcome in unavailable:
        # Only while the database was down: answered after the stop began, sent before it was back (+ grace).
        assert outcome.ended >= down_from, (outcome, down_from)
        assert outcome.started <= up_at + grace, (outcome, up_at)
        assert outcome.body == SERVICE_UNAVAILABLE
        assert outcome.retry_after == "5"
    after = [outcome for outcome in outcomes if outcome.started > up_at + grace]
    assert {outcome.kind for outcome in after if outcome.status in (HTTPStatus.OK, HTTPStatus.CREATED)} == {
        "read",
        "write",
    }
    assert all(outcome.status != HTTPStatus.SERVICE_UNAVAILABLE for outcome in after)
    # Recovered without restarting the app: the same gunicorn workers serve before and after.
    assert server.workers() == workers_before

    # Zero lost writes: every 201 is in the database exactly once; a write answered 503 may or may not have committed.
    created = {outcome.body["id"]: outcome.value for outcome in outcomes if outcome.status == HTTPStatus.CREATED}
    ambiguous = {outcome.value for outcome in unavailable if outcome.kind == "write"}
    rows = server.rows("SELECT id, value FROM dashboard_metric WHERE name = 'fault'")
    stored = dict(rows)
    assert len(stored) == len(rows)
    for metric_id, value in created.items():
        assert stored.get(metric_id) == value
    values = [value for _, value in rows]
    assert len(values) == len(set(values))  # nothing written twice
    assert set(values) - set(created.values()) <= ambiguous

    # One log line per 503 (the request log), no traceback.
    log = server.log.read_bytes()[log_offset:].decode()
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if re.search(r"dashboard\.request .* 503 ", line)]
    assert len(lines) == len(unavailable), log[-3000:]
    assert all("unavailable=database" in line for line in lines)


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _copying(server: Server) -> bool:
    rows = server.rows(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND query ILIKE 'COPY dashboard_metric%%'"
    )
    return bool(rows)


def test_database_restart_mid_upload_imports_nothing_and_the_upload_ends_failed(server):
    rows = 400_000
    lines = (f"restart{i % 5},{i},2026-01-01T{i % 24:02d}:{i % 60:02d}:00+00:00\n" for i in range(rows))
    content = ("name,value,timestamp\n" + "".join(lines)).encode()
    body, content_type = _multipart("big.csv", content)
    response: dict = {}

    def upload() -> None:
        url = f"{server.api}/dashboard/upload"
        response["status"], _, response["body"] = call(
            "POST", url, body=body, token=server.token, content_type=content_type
        )

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        wait_for(lambda: _copying(server), timeout=60, what="the upload's COPY to start")
        # Down for 10 s, as in the report: longer than a quick restart, within the 30 s the status write is retried.
        server.restart_database(down_for=10.0)
    finally:
        uploader.join(timeout=130)
    assert not uploader.is_alive()

    # The import's connection died with the restart: the request says so, the status was written on a fresh one.
    assert response["status"] == HTTPStatus.SERVICE_UNAVAILABLE, response
    assert response["body"] == SERVICE_UNAVAILABLE
    ((upload_id, status, imported, errors),) = server.rows(
        "SELECT id, status, rows_imported, errors FROM dashboard_upload WHERE filename = 'big.csv'"
    )
    assert (status, imported) == ("failed", 0)
    assert errors == [{"row": None, "column": None, "message": "The import failed unexpectedly; nothing was imported."}]
    assert server.rows("SELECT count(*) FROM dashboard_metric WHERE upload_id = %s", [upload_id]) == [(0,)]
    assert server.rows("SELECT count(*) FROM dashboard_metrichour WHERE source = %s", [upload_id]) == [(0,)]
    # Nothing is stuck: the failed upload can be deleted, and the same file uploaded again.
    status, _, _ = call("DELETE", f"{server.api}/dashboard/uploads/{upload_id}", token=server.token)
    assert status == HTTPStatus.NO_CONTENT
