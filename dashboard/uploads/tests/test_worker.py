"""Queued uploads end to end: a real Celery worker on the local Redis, a killed worker, a lost database connection.

PostgreSQL only: the worker is another process, so it must share the test database, and the rows it reads must be
committed (transactional tests).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.files import File
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import UserFactory
from config.celery import app as celery_app
from conftest import port_open
from dashboard.metrics.models import Metric
from dashboard.uploads.models import Upload
from dashboard.uploads.services import upload_create, upload_process

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/14"
# Every run consumes its own queue, so runs sharing this Redis database never take each other's tasks.
QUEUE = f"dashboard-test-{uuid.uuid4().hex[:10]}"
# Seconds before Redis hands an unacknowledged task (its worker died) to another worker; production keeps an hour.
VISIBILITY_TIMEOUT = 2
BIG_FILE_ROWS = 300_000
REPO_ROOT = Path(__file__).resolve().parents[3]
UPLOAD = "/api/v1/dashboard/upload"
UPLOADS = "/api/v1/dashboard/uploads"


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.05, details=None):
    """Call *predicate* until it returns something truthy, and return that; fail after *timeout* seconds, adding
    ``details()`` (e.g. the workers' logs) to the message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}" + (f"\n{details()}" if details else ""))
        time.sleep(interval)


def write_csv(path: Path, rows: int, *, bad_row: int | None = None) -> Path:
    """A metrics CSV of *rows* data rows; the data row numbered *bad_row* (1-based) gets a non-numeric value."""
    with path.open("w") as out:
        out.write("name,value,timestamp\n")
        out.writelines(
            f"m{i % 7},{'oops' if i == bad_row else i},2026-01-01T{i % 24:02d}:{i % 60:02d}:00+00:00\n"
            for i in range(1, rows + 1)
        )
    return path


def _database_url() -> str:
    """The test database (not the one the run was configured with) as a DATABASE_URL for another process."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db.get("HOST") or "localhost", safe="")
    return f"postgres://{credentials}@{host}:{db.get('PORT') or 5432}/{quote(db['NAME'], safe='')}"


def _copy_backends() -> list[int]:
    """Backends of the test database, other than ours, that are running a COPY."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'active' AND query ILIKE %s",
            ["COPY%"],
        )
        return [pid for (pid,) in cursor.fetchall()]


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


class Workers:
    """Starts ``celery -A config worker`` subprocesses on the test database and kills every one of them at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, Path]] = []
        self.current: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "CELERY_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="false",
            SECRET_KEY=settings.SECRET_KEY,
            DATABASE_URL=_database_url(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CELERY_BROKER_URL=BROKER_URL,
            # Tasks the worker itself queues (an import queues an alert evaluation) stay on this run's queue.
            CELERY_TASK_DEFAULT_QUEUE=QUEUE,
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            LOG_LEVEL="WARNING",
        )
        env.pop("REDIS_URL", None)
        return env

    def start(self) -> subprocess.Popen:
        """Start a worker on QUEUE and return once it answers a ping."""
        number = len(self.started) + 1
        node = f"{QUEUE}-{number}@{socket.gethostname()}"
        log = self.log_dir / f"worker-{number}.log"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1"]
        command += ["-l", "warning", "-Q", QUEUE, "-n", node, "--without-gossip", "--without-mingle"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.environment(), stdout=output, stderr=subprocess.STDOUT
            )
        self.started.append((process, log))
        self.current = process

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the worker exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with celery_app.connection_for_write(BROKER_URL) as broker:
                return bool(celery_app.control.ping(destination=[node], timeout=0.5, connection=broker))

        wait_for(answers, timeout=30, what=f"worker {node} to answer a ping", interval=0.2)
        return process

    def running(self) -> subprocess.Popen:
        if self.current is None or self.current.poll() is not None:
            return self.start()
        return self.current

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def log_tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for _, log in self.started)

    def stop_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    pool = Workers(tmp_path_factory.mktemp("celery"))
    yield pool
    pool.stop_all()
    if pool.started:
        _forget_queue()
        # Drop the producer connections to this broker, which the rest of the run does not use.
        celery_app.close()


def _forget_queue() -> None:
    """Remove what this run left in Redis: its queue, its bindings, and unacknowledged deliveries of its tasks (a
    killed worker's), which a later worker on this database would otherwise put back into the dead queue."""
    from kombu.transport.redis import Channel

    with celery_app.connection_for_write(BROKER_URL) as broker:
        channel = broker.default_channel
        assert isinstance(channel, Channel), channel  # the broker is Redis
        redis = channel.client
        for tag, delivery in redis.hgetall(channel.unacked_key).items():
            _, _, routing_key = json.loads(delivery)
            if routing_key == QUEUE:
                redis.hdel(channel.unacked_key, tag)
                redis.zrem(channel.unacked_index_key, tag)
        binding = channel.keyprefix_binding_permanent  # type: ignore[attr-defined]  # in kombu 5.7, not in its stubs
        redis.delete(QUEUE, channel.keyprefix_queue % QUEUE, binding % QUEUE)


@pytest.fixture
def queued_uploads(require_service, settings, workers):
    """Uploads of any size go to the queue, and a worker is running."""
    require_service("Redis", port_open(REDIS_HOST, REDIS_PORT))
    settings.CELERY_BROKER_URL = BROKER_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
    settings.UPLOAD_ASYNC_MIN_BYTES = 1
    workers.running()
    return workers


@pytest.fixture
def owner_client(client_for):
    owner = UserFactory(is_superuser=True)
    return owner, client_for(owner)


def post_file(client, path: Path):
    with path.open("rb") as handle:
        return client.post(UPLOAD, {"file": handle}, format="multipart")


def status_of(client, upload_id: int) -> str:
    return client.get(f"{UPLOADS}/{upload_id}").json()["status"]


def wait_for_status(client, workers: Workers, upload_id: int, wanted: str, timeout: float) -> dict:
    def reached():
        body = client.get(f"{UPLOADS}/{upload_id}").json()
        return body if body["status"] == wanted else None

    return wait_for(reached, timeout=timeout, what=f"upload {upload_id} to be {wanted}", details=workers.log_tail)


def test_queued_upload_is_imported_by_the_worker(queued_uploads, owner_client, tmp_path):
    owner, client = owner_client
    response = post_file(client, write_csv(tmp_path / "good.csv", 3))
    assert response.status_code == HTTPStatus.ACCEPTED, response.json()
    body = response.json()
    assert (body["status"], body["rows_imported"]) == ("pending", 0)

    done = wait_for_status(client, queued_uploads, body["id"], "succeeded", timeout=20)
    assert (done["rows_total"], done["rows_imported"], done["error_count"]) == (3, 3, 0)
    assert sorted(Metric.objects.filter(upload_id=body["id"]).values_list("value", "owner_id")) == [
        (1.0, owner.pk),
        (2.0, owner.pk),
        (3.0, owner.pk),
    ]


def test_queued_upload_with_a_bad_row_fails_and_imports_nothing(queued_uploads, owner_client, tmp_path):
    _, client = owner_client
    response = post_file(client, write_csv(tmp_path / "bad.csv", 500, bad_row=250))
    assert response.status_code == HTTPStatus.ACCEPTED, response.json()

    failed = wait_for_status(client, queued_uploads, response.json()["id"], "failed", timeout=20)
    assert failed["errors"] == [{"row": 251, "column": "value", "message": "Not a finite number: 'oops'."}]
    assert (failed["error_count"], failed["rows_imported"]) == (1, 0)
    assert not Metric.objects.exists()


def test_killed_worker_leaves_nothing_imported(queued_uploads, owner_client, tmp_path):
    _, client = owner_client
    victim = queued_uploads.running()
    response = post_file(client, write_csv(tmp_path / "big.csv", BIG_FILE_ROWS))
    assert response.status_code == HTTPStatus.ACCEPTED, response.json()
    upload_id = response.json()["id"]

    wait_for(lambda: status_of(client, upload_id) == "processing", timeout=20, what="the worker to claim the upload")
    (copy_backend,) = wait_for(_copy_backends, timeout=20, what="the worker's COPY to start")
    queued_uploads.kill(victim)
    # Once the server has noticed the dead client, its transaction is rolled back for good.
    wait_for(lambda: not _backend_alive(copy_backend), timeout=10, what="the worker's backend to end")
    assert status_of(client, upload_id) == "processing"
    assert not Metric.objects.filter(upload_id=upload_id).exists()

    # acks_late: the task was never acknowledged, so once the visibility timeout has passed Redis hands it to the
    # next worker, which imports the whole file again from the start.
    time.sleep(VISIBILITY_TIMEOUT)
    queued_uploads.start()
    done = wait_for_status(client, queued_uploads, upload_id, "succeeded", timeout=40)
    assert done["rows_imported"] == BIG_FILE_ROWS
    assert Metric.objects.filter(upload_id=upload_id).count() == BIG_FILE_ROWS


def test_lost_database_connection_mid_import_leaves_nothing(tmp_path):
    owner = UserFactory()
    path = write_csv(tmp_path / "big.csv", 120_000)
    with path.open("rb") as handle:
        upload = upload_create(file=File(handle, name="big.csv"), owner=owner, tz=ZoneInfo("UTC"))
    copying, resume = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def progress(rows_done: int, bytes_done: int, bytes_total: int) -> None:
        # The first report comes mid-file, inside the COPY: hold it there until the backend is gone.
        if not copying.is_set():
            copying.set()
            resume.wait(timeout=30)

    def run() -> None:
        try:
            upload_process(upload_id=upload.pk, progress=progress)
        except Exception as exc:
            # Only the message: the exception would keep the import's frames, and its half-read file, alive.
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    importer = threading.Thread(target=run)
    importer.start()
    try:
        assert copying.wait(timeout=30), "the import never reported progress"
        (backend,) = _copy_backends()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            assert cursor.fetchone() == (True,)
    finally:
        resume.set()
        importer.join(timeout=60)
    assert not importer.is_alive()
    # Finalise the abandoned row reader now rather than at a random later point: on Python 3.11.7 its finaliser's
    # error, reported from inside another ast.parse, corrupts the interpreter's AST state for the rest of the run.
    gc.collect()

    assert "terminat" in outcome.get("error", "").lower(), outcome
    upload.refresh_from_db()
    assert upload.status == Upload.Status.FAILED
    assert upload.errors[0]["message"] == "The import failed unexpectedly; nothing was imported."
    assert not Metric.objects.filter(upload=upload).exists()


def test_a_starting_worker_settles_uploads_a_dead_one_left_processing(queued_uploads, owner_client):
    owner, client = owner_client
    long_ago = timezone.now() - settings.UPLOAD_STALE_AFTER - timedelta(minutes=1)
    left = Upload.objects.create(
        filename="left.csv", sha256="1" * 64, status=Upload.Status.PROCESSING, created_by=owner, started_at=long_ago
    )
    recent = Upload.objects.create(
        filename="recent.csv", sha256="2" * 64, status=Upload.Status.PROCESSING, created_by=owner
    )
    Upload.objects.filter(pk=recent.pk).update(started_at=timezone.now())

    queued_uploads.start()  # no beat, no command: the worker_ready signal settles it
    settled = wait_for_status(client, queued_uploads, left.pk, "failed", timeout=20)
    assert settled["errors"] == [
        {"row": None, "column": None, "message": "The import was interrupted; nothing was imported."}
    ]
    assert status_of(client, recent.pk) == "processing"  # may still be running, or be redelivered
