"""Per-request server CPU of the hot API endpoints: gunicorn workers + the PostgreSQL backends serving them.

Serves the project with its production settings (DEBUG off, gunicorn, 2 workers, Redis cache when REDIS_URL is set) on
a scratch PostgreSQL database, warms each endpoint, then sends a fixed number of requests over a few concurrent
connections and reads utime+stime of every gunicorn worker and of every PostgreSQL backend connected to the scratch
database from /proc before and after. Query counts come from one request through Django's test client in a separate
process (ORM queries; a CONN_HEALTH_CHECKS `SELECT 1` is not an ORM query and is listed apart).

When every tree measured has API keys, the key path (issue #13) is measured too: one metric POST with an API key of
the same analyst, and a list of 1,000 metrics POSTed with the JWT and with the key (a tenth of the requests; CPU per
request, so per 1,000 writes).

With ``--baseline-ref REF`` the same is measured for a checkout of REF (a git worktree under /tmp), on its own scratch
database, in alternating rounds, so both trees see the same machine load.

    .venv/bin/python bench/bench_api.py [--requests 300] [--rounds 3] [--connections 4] [--baseline-ref main]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, REPO, django_env, free_port, recreate_database

PEER_MS = {"users/me": 2.5, "metrics list (100)": 6.2, "metrics POST": 4.8, "admin users (100)": 12.2}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password-123456"

SEED = """
from datetime import timedelta
from django.contrib.auth.models import Group
from django.utils import timezone
from accounts.models import User
from dashboard.models import Metric

analyst = User.objects.create_user(email="analyst@bench.local", password={password!r})
analyst.groups.add(Group.objects.get(name="analyst"))
writer = User.objects.create_user(email="writer@bench.local", password={password!r})
writer.groups.add(Group.objects.get(name="analyst"))
admin = User.objects.create_user(email="useradmin@bench.local", password={password!r})
admin.groups.add(Group.objects.get(name="user_admin"))
viewer = Group.objects.get(name="viewer")
users = User.objects.bulk_create([User(email=f"user{{n}}@bench.local", full_name=f"User {{n}}") for n in range(150)])
User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=viewer.pk) for u in users])
now = timezone.now()
Metric.objects.bulk_create(
    [Metric(owner=analyst, name=f"m{{n % 5}}", value=n, timestamp=now - timedelta(minutes=n)) for n in range(200)]
)
"""

API_KEY = """
from accounts.models import User
from accounts.services.api_keys import api_key_create
scopes = ["dashboard.add_metric", "dashboard.view_metric"]
keys = [api_key_create(user=User.objects.get(email=email), name="bench", scopes=scopes).key
        for email in ("analyst@bench.local", "writer@bench.local")]
print("KEY" + " ".join(keys))
"""

QUERY_COUNTS = """
import json, sys
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
endpoints = json.loads(sys.stdin.read())
out = {}
for name, method, path, token, body in endpoints:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    call = lambda: getattr(client, method.lower())(path, data=body, content_type="application/json")
    call()
    with CaptureQueriesContext(connection) as ctx:
        status = call().status_code
    out[name] = [len(ctx.captured_queries), status]
print("COUNTS" + json.dumps(out))
"""


class Tree:
    """One checkout under test: its directory, scratch database, server and tokens."""

    def __init__(self, label: str, path: Path, db_name: str, **extra_env: str) -> None:
        self.label, self.path, self.db_name = label, path, db_name
        self.db_url = recreate_database(db_name)
        self.env = django_env(
            self.db_url,
            ACCESS_TOKEN_LIFETIME_MINUTES="600",
            CACHE_KEY_PREFIX=f"bench-api-{db_name}",
            THROTTLE_API_KEY="1000000/min",
            **extra_env,
        )
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.tokens: dict[str, str] = {}
        self.key_path = False  # also measure the API-key endpoints (set when every tree has keys)

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=self.path,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"{self.label}: manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("shell", "-c", SEED.format(password=PASSWORD))

    def start(self, workers: int) -> None:
        self.port = free_port()
        command = [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)]
        if (self.path / "gunicorn.conf.py").is_file():
            # The project's production gunicorn settings; no worker recycling in the middle of a measurement.
            command += ["-c", "gunicorn.conf.py", "--max-requests", "0"]
        else:
            command += ["config.wsgi"]
        self.process = subprocess.Popen(
            command, cwd=self.path, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(150):
            with contextlib.suppress(OSError):
                if request("GET", self.port, "/healthz")[0] == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{self.label}: gunicorn did not start")
        for role, email in (
            ("analyst", "analyst@bench.local"),
            ("admin", "useradmin@bench.local"),
            ("writer", "writer@bench.local"),
        ):
            status, body = request("POST", self.port, "/api/v1/auth/login", {"email": email, "password": PASSWORD})
            assert status == 200, (status, body)
            self.tokens[role] = json.loads(body)["access"]
        if (self.path / "accounts" / "services" / "api_keys.py").is_file() and "key" not in self.tokens:
            # The analyst's API key for the key path (issue #13); a tree without API keys measures JWTs only.
            out = self.manage("shell", "-c", API_KEY)
            self.tokens["key"], self.tokens["writer_key"] = out.split("KEY", 1)[1].split()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def workers(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def backends(self, monitor: psycopg.Connection) -> list[int]:
        rows = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.db_name]
        ).fetchall()
        return [pid for (pid,) in rows]

    def endpoints(self) -> list[tuple[str, str, str, str, dict | list | None]]:
        analyst, admin = self.tokens["analyst"], self.tokens["admin"]
        metric = {"name": "bench.post", "value": 1.5}
        endpoints: list[tuple[str, str, str, str, dict | list | None]] = [
            ("users/me", "GET", "/api/v1/users/me", analyst, None),
            ("metrics list (100)", "GET", "/api/v1/dashboard/metrics?limit=100", analyst, None),
            ("metrics POST", "POST", "/api/v1/dashboard/metrics", analyst, metric),
            ("admin users (100)", "GET", "/api/v1/admin/users?limit=100", admin, None),
        ]
        if self.key_path:
            # The 1,000-item writes go to another analyst, so the analyst's list keeps the size it is measured at.
            writer, writer_key = self.tokens["writer"], self.tokens["writer_key"]
            batch = [{"name": f"bench.batch{n % 10}", "value": n} for n in range(1000)]
            endpoints += [
                ("metrics POST, key", "POST", "/api/v1/dashboard/metrics", self.tokens["key"], metric),
                ("POST 1,000, JWT", "POST", "/api/v1/dashboard/metrics", writer, batch),
                ("POST 1,000, key", "POST", "/api/v1/dashboard/metrics", writer_key, batch),
            ]
        return endpoints

    def query_counts(self) -> dict[str, list[int]]:
        env_backup = self.env
        self.env = {**self.env, "ALLOWED_HOSTS": "testserver,127.0.0.1"}
        try:
            out = self.manage("shell", "-c", QUERY_COUNTS, stdin=json.dumps(self.endpoints()))
        finally:
            self.env = env_backup
        return json.loads(out.split("COUNTS", 1)[1])


def request(method: str, port: int, path: str, body: dict | None = None, token: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def requests_for(endpoint, requests: int) -> int:
    """A tenth of the requests for a 1,000-item body (each one is a thousand writes)."""
    return max(10, requests // 10) if isinstance(endpoint[4], list) else requests


def load(port: int, endpoint, total: int, connections: int) -> None:
    _, method, path, token, body = endpoint
    counter = iter(range(total))
    lock = threading.Lock()
    failures: list[int] = []

    def worker() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            status, _ = request(method, port, path, body, token)
            if status >= 300:
                failures.append(status)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{endpoint[0]}: {len(failures)} failed requests, e.g. {failures[0]}")


def measure(tree: Tree, monitor: psycopg.Connection, endpoint, total: int, connections: int) -> tuple[float, float]:
    """(server CPU seconds: app, PostgreSQL) spent serving *total* requests to *endpoint*."""
    load(tree.port, endpoint, requests_for(endpoint, 20), connections)  # warm: connections open, caches filled
    workers, backends = tree.workers(), tree.backends(monitor)
    app0, pg0 = cpu_ticks(workers), cpu_ticks(backends)
    load(tree.port, endpoint, total, connections)
    backends = sorted({*backends, *tree.backends(monitor)})
    app1, pg1 = cpu_ticks(workers), cpu_ticks(backends)
    app = sum(app1[pid] - app0.get(pid, 0) for pid in app1) / CLK_TCK
    pg = sum(pg1[pid] - pg0.get(pid, 0) for pid in pg1) / CLK_TCK
    return app, pg


@contextlib.contextmanager
def baseline_checkout(ref: str) -> Iterator[Path]:
    path = Path(f"/tmp/bench-api-baseline-{os.getpid()}")
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=REPO, check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-ref", default="", help="also measure this git ref, in alternating rounds")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also measure the current tree with these environment variables (repeatable)",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        trees = [Tree("current", REPO, "bench_api_current")]
        for number, variant in enumerate(args.variant):
            extra = dict(item.split("=", 1) for item in variant.split(","))
            trees.append(Tree(f"current {variant}", REPO, f"bench_api_variant{number}", **extra))
        if args.baseline_ref:
            path = stack.enter_context(baseline_checkout(args.baseline_ref))
            trees.insert(0, Tree(f"baseline {args.baseline_ref}", path, "bench_api_baseline"))
        for tree in trees:
            tree.prepare()
            tree.start(args.workers)
            stack.callback(tree.stop)
        key_path = all("key" in tree.tokens for tree in trees)
        for tree in trees:
            tree.key_path = key_path
        monitor = stack.enter_context(psycopg.connect(trees[0].db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True))
        counts = {tree.label: tree.query_counts() for tree in trees}
        totals = {(tree.label, e[0]): [0.0, 0.0] for tree in trees for e in tree.endpoints()}
        for _ in range(args.rounds):
            for index in range(len(trees[0].endpoints())):
                for tree in trees:
                    endpoint = tree.endpoints()[index]
                    app, pg = measure(tree, monitor, endpoint, requests_for(endpoint, args.requests), args.connections)
                    totals[tree.label, endpoint[0]][0] += app
                    totals[tree.label, endpoint[0]][1] += pg

    print(
        f"requests={args.requests} x rounds={args.rounds} per endpoint, connections={args.connections}, "
        f"gunicorn workers={args.workers}, DEBUG off, cache={'redis' if os.environ.get('REDIS_URL') else 'file'}"
    )
    print("server CPU per request = gunicorn workers + PostgreSQL backends (utime+stime from /proc)")
    width = max(len(tree.label) for tree in trees)
    print(
        f"{'endpoint':<20} {'tree':<{width}} {'app ms':>7} {'PG ms':>7} {'total':>7} {'peer':>6} {'ratio':>6} queries"
    )
    for name in [e[0] for e in trees[0].endpoints()]:
        for tree in trees:
            n = requests_for(next(e for e in tree.endpoints() if e[0] == name), args.requests) * args.rounds
            app, pg = (value * 1000 / n for value in totals[tree.label, name])
            queries, status = counts[tree.label][name]
            peer = PEER_MS.get(name)
            versus = f"{peer:6.1f} {(app + pg) / peer:5.2f}x" if peer else f"{'-':>6} {'-':>6}"
            print(
                f"{name:<20} {tree.label:<{width}} {app:7.2f} {pg:7.2f} {app + pg:7.2f} {versus} "
                f"{queries} (HTTP {status})"
            )


if __name__ == "__main__":
    main()
