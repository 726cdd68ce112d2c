"""Read-replica routing: which reads may use the replica, the read-your-writes pin, and (PostgreSQL) a real
streaming replica made with pg_basebackup, served by gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS

from conftest import port_open
from core.db_routers import REPLICA, PrimaryReplicaRouter, pin_to_primary, read_alias, reading_from, replica_allowed
from core.tests.clusters import PG_BIN, Cluster, as_postgres, cluster_root, free_port, server_binaries_available

REPO = Path(django_settings.BASE_DIR)
PASSWORD = "replica-Password-2026"
PIN_SECONDS = 3


pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def with_replica(settings):
    """A ``replica`` alias in the settings (never connected to by these unit tests)."""
    settings.DATABASES = {**settings.DATABASES, REPLICA: {**settings.DATABASES["default"]}}
    settings.DATABASE_REPLICA_PIN_SECONDS = 60
    return settings


@pytest.mark.django_db
def test_reads_use_the_replica_only_during_a_request_and_until_the_user_writes(with_replica):
    from accounts.tests.factories import UserFactory

    user, other = UserFactory(), UserFactory()
    assert read_alias(user) == DEFAULT_DB_ALIAS  # a job or a command: the primary
    with replica_allowed():
        assert read_alias(user) == REPLICA
        pin_to_primary(user.pk)
        assert read_alias(user) == DEFAULT_DB_ALIAS
        assert read_alias(other) == REPLICA


@pytest.mark.django_db
def test_without_a_replica_everything_reads_the_primary(settings):
    from accounts.tests.factories import UserFactory

    assert REPLICA not in settings.DATABASES
    with replica_allowed():
        assert read_alias(UserFactory()) == DEFAULT_DB_ALIAS


def test_router_sends_writes_and_migrations_to_the_primary():
    router = PrimaryReplicaRouter()
    assert router.db_for_read(Group) is None
    with reading_from(REPLICA):
        assert router.db_for_read(Group) == REPLICA
        assert router.db_for_write(Group) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "dashboard") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "dashboard") is True


@pytest.mark.django_db
def test_a_write_request_pins_its_user_and_a_read_does_not(with_replica, user_with_role, client_for):
    analyst = user_with_role("analyst")
    client = client_for(analyst)
    assert client.get("/api/v1/dashboard/uploads").status_code == HTTPStatus.OK
    with replica_allowed():
        assert read_alias(analyst) == REPLICA
    response = client.post("/api/v1/dashboard/metrics", {"name": "m", "value": 1}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    with replica_allowed():
        assert read_alias(analyst) == DEFAULT_DB_ALIAS


# --- A real primary and streaming replica ---------------------------------------------------------------------------


@pytest.fixture
def primary_and_replica(require_service):
    """A primary and its streaming replica (``pg_basebackup -R``), each on a free port; both removed afterwards.

    The shared cluster's pg_hba.conf allows no replication connections, and it must not be reconfigured, so the
    test makes its own primary too."""
    require_service("PostgreSQL 15 server binaries", server_binaries_available("pg_basebackup"))
    with cluster_root("dash-replica") as root:
        primary, replica = Cluster(root, "primary"), Cluster(root, "replica")
        try:
            primary.initdb()
            primary.start()
            basebackup = [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"]
            basebackup += ["-D", str(replica.dir), "-R", "-X", "stream"]
            subprocess.run(as_postgres(basebackup), check=True, capture_output=True, timeout=120)
            replica.start()
            assert replica.query("SELECT pg_is_in_recovery()") == [(True,)]
            yield primary, replica
        finally:
            replica.stop()
            primary.stop()


def server_env(primary_url: str, replica_url: str, cache_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("POSTGRES_", "DJANGO_"))}
    return {
        **env,
        "DATABASE_URL": primary_url,
        "DATABASE_REPLICA_URL": replica_url,
        "DATABASE_REPLICA_PIN_SECONDS": str(PIN_SECONDS),
        "DEBUG": "false",
        "SECRET_KEY": "replica-test-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CACHE_DIR": str(cache_dir),  # the pin, shared by the two gunicorn workers
        "THROTTLE_LOGIN": "1000/min",
    }


def call(method: str, url: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null")


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


@pytest.mark.postgres_only
def test_reads_go_to_a_real_replica_and_a_writer_reads_its_writes(primary_and_replica, tmp_path):
    primary, replica = primary_and_replica
    database = f"dash_{uuid.uuid4().hex[:8]}"
    primary.query(f'CREATE DATABASE "{database}"')
    env = server_env(f"{primary.url}/{database}", f"{replica.url}/{database}", tmp_path / "cache")
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True, timeout=300)
    create_users = (
        "from django.contrib.auth.models import Group\nfrom accounts.models import User\n"
        "for email in ('writer@example.com', 'reader@example.com'):\n"
        f"    User.objects.create_user(email, {PASSWORD!r}).groups.add(Group.objects.get(name='manager'))\n"
    )
    subprocess.run([python, "manage.py", "shell", "-c", create_users], cwd=REPO, env=env, check=True, timeout=120)
    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env={**env, "WEB_CONCURRENCY": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for(lambda: port_open("127.0.0.1", port))

        def login(email: str) -> str:
            return call("POST", f"{api}/auth/login", {"email": email, "password": PASSWORD})[1]["access"]

        def names(token: str) -> set[str]:
            return {row["name"] for row in call("GET", f"{api}/dashboard/metrics/names", token=token)[1]}

        writer, reader = login("writer@example.com"), login("reader@example.com")
        # Let the replica replay everything so far, then stop its replay: what it serves is frozen from here on.
        wait_for(lambda: replica.query("SELECT count(*) FROM accounts_user", database) == [(2,)])
        replica.query("SELECT pg_wal_replay_pause()")
        wait_for(lambda: replica.query("SELECT pg_get_wal_replay_pause_state()") == [("paused",)])

        status, created = call("POST", f"{api}/dashboard/metrics", {"name": "fresh", "value": 1.5}, token=writer)
        assert status == HTTPStatus.CREATED  # writes go to the primary (the replica is read-only)
        assert names(writer) == {"fresh"}  # the writer is pinned to the primary: it reads its write
        assert names(reader) == set()  # everyone else reads the replica, which has not replayed it
        assert call("GET", f"{api}/dashboard/metrics", token=reader)[1]["count"] == 0
        series = call("GET", f"{api}/dashboard/metrics/series?name=fresh&bucket=day", token=reader)[1]
        assert series["points"] == []
        # A detail route is not one of the replica's selectors: the primary answers it.
        detail = call("GET", f"{api}/dashboard/metrics/{created['id']}", token=reader)[1]
        assert detail["name"] == "fresh"

        time.sleep(PIN_SECONDS + 0.5)
        assert names(writer) == set()  # the pin has expired: the writer reads the (still paused) replica too

        replica.query("SELECT pg_wal_replay_resume()")
        wait_for(lambda: names(reader) == {"fresh"})
        assert names(writer) == {"fresh"}
    finally:
        server.terminate()
        server.wait(timeout=30)
