"""Shared helpers for the benchmarks: a scratch PostgreSQL database, a gunicorn server, timing."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.abc import Params

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + "x" * 50


def database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def recreate_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def django_env(db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "THROTTLE_LOGIN": "1000/min",
        **extra,
    }


def manage(db_url: str, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=django_env(db_url), check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    db_url: str, workers: int = 2, repo: Path = REPO, **extra_env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve the checkout *repo* (this one by default) with gunicorn and its gunicorn.conf.py on a free local port;
    yields (base_url, process)."""
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "-c", str(repo / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"],
        cwd=repo,
        env=django_env(db_url, WEB_CONCURRENCY=str(workers), **extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def median_seconds(action: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def query_value(conn: psycopg.Connection, query: str, params: Params | None = None) -> Any:
    """The first column of the first row *query* returns (with *params*); an AssertionError when it returns none."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r}"
    return row[0]


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@contextlib.contextmanager
def baseline_checkout(ref: str, name: str) -> Iterator[Path]:
    """A detached git worktree of *ref* under /tmp, removed afterwards: the baseline tree of a comparison."""
    path = Path(f"/tmp/{name}-baseline-{os.getpid()}")
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=REPO, check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False)
