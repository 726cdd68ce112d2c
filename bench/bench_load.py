"""Benchmark: bounded loopback load through gunicorn — N clients for T seconds over a read/write mix.

Serves the project with gunicorn and gunicorn.conf.py (WEB_CONCURRENCY workers) on a scratch PostgreSQL database
seeded with one upload of --seed-rows metrics and 5 KPIs, then runs --clients threads for --seconds, each sending one
request at a time (no think time): with probability --write-ratio a POST of one metric with a value unique to the run,
else one of four reads (metrics list, metrics/names, a day series over a year, summary). Prints requests per second,
p50, p95 and p99 latency (overall and per kind), errors by status, and checks that every 201 is in the database
exactly once with the value it was sent.

    .venv/bin/python bench/bench_load.py [--clients 20] [--seconds 20] [--write-ratio 0.2] [--workers 2]

Everything stays on 127.0.0.1; the run is bounded by --seconds (and --clients by MAX_CLIENTS).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gunicorn, http_json, manage, recreate_database

MAX_CLIENTS = 200
MAX_SECONDS = 600
PASSWORD = "bench-Password-2026"
EMAIL = "load@example.com"
NAMES = [f"load.{n}" for n in range(20)]
WRITE_NAME = "load.written"
PERIODS = ["day", "week", "month", "quarter", "year"]


def setup(db_url: str) -> None:
    manage(db_url, "migrate", "--noinput", "-v0")
    manage(
        db_url,
        "shell",
        "-c",
        "from django.contrib.auth.models import Group; from accounts.models import User; "
        f"u = User.objects.create_user({EMAIL!r}, {PASSWORD!r}); u.groups.add(Group.objects.get(name='manager'))",
    )
    with psycopg.connect(db_url) as conn:
        for i, (aggregation, period) in enumerate(zip(["sum", "avg", "max", "count", "last"], PERIODS, strict=True)):
            conn.execute(
                "INSERT INTO dashboard_kpi (name, slug, description, metric_name, aggregation, period, target,"
                " direction, warning_threshold_pct, unit, created_at) VALUES (%s, %s, '', %s, %s, %s, 500, 'up', 10,"
                " '', now())",
                [f"KPI {i}", f"kpi-{i}", NAMES[i], aggregation, period],
            )


def seed(base: str, token: str, rows: int) -> None:
    """One CSV upload through the API (the import service keeps the rollups right)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    lines = ["name,value,timestamp"]
    for _ in range(rows):
        moment = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        lines.append(f"{rng.choice(NAMES)},{rng.uniform(0, 1000):.3f},{moment:%Y-%m-%dT%H:%M:%S}+00:00")
    content = ("\n".join(lines) + "\n").encode()
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="seed.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(f"{base}/api/v1/dashboard/upload", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=300) as response:
        uploaded = json.loads(response.read())
    assert uploaded["status"] == "succeeded", uploaded


def read_urls(base: str) -> list[tuple[str, str]]:
    now = datetime.now(UTC).replace(microsecond=0)
    year_ago = now - timedelta(days=365)
    api = f"{base}/api/v1/dashboard"
    span = f"from={year_ago:%Y-%m-%dT%H:%M:%SZ}&to={now:%Y-%m-%dT%H:%M:%SZ}"
    return [
        ("list", f"{api}/metrics?limit=50"),
        ("names", f"{api}/metrics/names"),
        ("series", f"{api}/metrics/series?name={NAMES[0]}&bucket=day&agg=avg&{span}"),
        ("summary", f"{api}/summary"),
    ]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.statuses: Counter = Counter()
        self.created: list[tuple[int, float]] = []  # (id, value) of every 201

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            self.statuses[status] += 1


def send(method: str, url: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""  # connection refused or reset: counted as an error with status 0


def client(number: int, token: str, urls, write_ratio: float, deadline: float, recorder: Recorder) -> None:
    write_url, reads = urls
    rng = random.Random(number)
    sequence = 0
    while time.monotonic() < deadline:
        sequence += 1
        if rng.random() < write_ratio:
            kind, value = "write", float(number * 10_000_000 + sequence)
            body = json.dumps({"name": WRITE_NAME, "value": value}).encode()
            started = time.perf_counter()
            status, payload = send("POST", write_url, token, body)
            recorder.add(kind, time.perf_counter() - started, status)
            if status == 201:
                with recorder.lock:
                    recorder.created.append((json.loads(payload)["id"], value))
        else:
            kind, url = rng.choice(reads)
            started = time.perf_counter()
            status, _ = send("GET", url, token)
            recorder.add(kind, time.perf_counter() - started, status)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--write-ratio", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY for gunicorn.conf.py")
    parser.add_argument("--seed-rows", type=int, default=100_000)
    parser.add_argument("--database", default="dash_bench_load")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS} and --seconds 0..{MAX_SECONDS}")

    db_url = recreate_database(args.database)
    setup(db_url)
    recorder = Recorder()
    with gunicorn(db_url, workers=args.workers, THROTTLE_API_KEY="1000000/min") as (base, _process):
        token = http_json("POST", f"{base}/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})["access"]
        seed(base, token, args.seed_rows)
        reads = read_urls(base)
        urls = (f"{base}/api/v1/dashboard/metrics", reads)
        for _, url in reads:  # warm every worker's caches and connections a little
            for _ in range(args.workers):
                send("GET", url, token)
        deadline = time.monotonic() + args.seconds
        started = time.monotonic()
        threads = [
            threading.Thread(target=client, args=(n, token, urls, args.write_ratio, deadline, recorder))
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT id, value FROM dashboard_metric WHERE name = %s", [WRITE_NAME]).fetchall()
    by_id = Counter(metric_id for metric_id, _ in stored)
    values: dict[int, float] = dict(stored)
    missing = [metric_id for metric_id, _ in recorder.created if by_id[metric_id] != 1]
    wrong = [metric_id for metric_id, value in recorder.created if values.get(metric_id) != value]
    extra = len(stored) - len(recorder.created)

    everything = [sample for samples in recorder.latencies.values() for sample in samples]
    total = len(everything)
    errors = {status: count for status, count in recorder.statuses.items() if not 200 <= status < 300}
    print(
        f"clients={args.clients} seconds={args.seconds:g} write_ratio={args.write_ratio:g} "
        f"workers={args.workers} seed_rows={args.seed_rows:,} (gunicorn.conf.py, DEBUG off, loopback)"
    )
    print(f"requests {total:,} in {elapsed:.1f} s = {total / elapsed:,.1f} rps; errors {sum(errors.values())} {errors}")
    print(f"{'kind':8s} {'count':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}")
    for kind, samples in [("all", everything), *sorted(recorder.latencies.items())]:
        print(
            f"{kind:8s} {len(samples):7,d} {percentile(samples, 0.50) * 1000:8.1f} "
            f"{percentile(samples, 0.95) * 1000:8.1f} {percentile(samples, 0.99) * 1000:8.1f} "
            f"{statistics.fmean(samples) * 1000:8.1f}"
        )
    verdict = "OK" if not missing and not wrong and extra == 0 else "FAILED"
    print(
        f"writes: {len(recorder.created):,} answered 201, {len(stored):,} rows in the database; "
        f"201s not stored exactly once: {len(missing)}, with another value: {len(wrong)}, rows without a 201: {extra} "
        f"-> {verdict}"
    )
    if verdict != "OK":
        sys.exit(1)


if __name__ == "__main__":
    main()
