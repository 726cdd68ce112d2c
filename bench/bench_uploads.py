"""Benchmark: CSV upload through the import service and gunicorn against a raw COPY of the same file.

For each N (default 100,000 and 1,000,000) writes a CSV of N metrics (name,value,timestamp; 50 dotted names,
ISO 8601 UTC timestamps over two years) to a temp dir and times, in alternating rounds into the same table
(a, b, c, a, b, c, ...; the table grows, and no path gets the emptier one):
  (a) COPY ... FROM STDIN (FORMAT csv, HEADER true) of the file's bytes into dashboard_metric itself (owner_id and
      upload_id by column default, so its foreign keys are checked too); nothing else;
  (b) the import service in-process: metrics_import(file=..., owner=..., tz=UTC) — the rows and their hourly rollup
      cells, in one transaction;
  (c) POST /api/v1/dashboard/upload to gunicorn (1 worker) with an analyst's JWT, the file streamed from disk by curl;
after one untimed warm-up of each path, and prints rows/s (median of --repeat runs), each ratio to (a), and the
peak RSS (VmHWM, reset before each request) of the gunicorn worker during (c).
Goals: (c) <= 1.2 x (a) (stretch 1.1 x), rollup maintenance included; worker peak RSS < 150 MB at 1,000,000 rows.

    .venv/bin/python bench/bench_uploads.py [--rows 100000 1000000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, django_env, gunicorn, http_json, manage, query_value, recreate_database

NAMES = [
    f"{area}.{kind}.{stat}"
    for area, kinds in (
        ("sales", ("orders", "revenue", "refunds", "basket", "leads")),
        ("web", ("visits", "signups", "bounce", "latency", "errors")),
        ("ops", ("cpu", "memory", "disk", "queue", "deploys")),
        ("support", ("tickets", "backlog", "csat", "first_reply", "escalations")),
        ("hr", ("headcount", "hires", "attrition", "absences", "overtime")),
    )
    for kind in kinds
    for stat in ("total", "p95")
]
PASSWORD = "bench-Password-2026"
EMAIL = "bench-uploads@example.com"
RAW_TABLE = "dashboard_metric"
CHUNK = 1024 * 1024
COPY_GOAL, COPY_STRETCH = 1.2, 1.1
MEMORY_GOAL_MB = 150


@dataclass
class Run:
    seconds: float
    peak_mb: float | None = None
    baseline_mb: float | None = None


def write_csv(path: Path, rows: int, seed: int = 42) -> None:
    """Write *rows* metrics in time order over the two years up to 2026-01-01, a little jitter, UTC with 'Z'."""
    rng = random.Random(seed)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    start = end - timedelta(days=730)
    step = (end - start).total_seconds() / rows
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("name,value,timestamp\n")
        lines = []
        for i in range(rows):
            moment = start + timedelta(seconds=int(i * step + rng.random() * step))
            lines.append(f"{rng.choice(NAMES)},{rng.uniform(0, 5000):.4f},{moment:%Y-%m-%dT%H:%M:%S}Z\n")
            if len(lines) == 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


def memory_mb(pid: int | str, field: str) -> float:
    """A ``Vm*`` figure of /proc/<pid>/status in MB (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def reset_peak(pid: int | str) -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) of a process to its current RSS; False where unsupported."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child_pids(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        return children


def setup_django(db_url: str, media_root: Path) -> None:
    os.environ.update(django_env(db_url, MEDIA_ROOT=str(media_root), CELERY_BROKER_URL=""))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def create_fixtures(db_url: str) -> tuple[object, int]:
    """The analyst user and the Upload row that the raw COPY rows point at, by column defaults."""
    from django.contrib.auth.models import Group

    from accounts.models import User
    from dashboard.uploads.models import Upload

    user = User.objects.create_user(EMAIL, PASSWORD, full_name="Bench uploads")
    user.groups.add(Group.objects.get(name="analyst"))
    raw_upload = Upload.objects.create(
        filename="raw-copy.csv", sha256="0" * 64, status=Upload.Status.SUCCEEDED, created_by=user
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {RAW_TABLE} ALTER owner_id SET DEFAULT {int(user.pk)}")
        conn.execute(f"ALTER TABLE {RAW_TABLE} ALTER upload_id SET DEFAULT {int(raw_upload.pk)}")
    return user, raw_upload.pk


def reset_tables(db_url: str, raw_upload_id: int, media_root: Path) -> None:
    """Before each size: empty metric and rollup tables, no uploads but the raw one, no stored files."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE dashboard_metric, dashboard_metrichour")
        conn.execute("DELETE FROM dashboard_upload WHERE id <> %s", [raw_upload_id])
        conn.execute("VACUUM ANALYZE dashboard_upload")
        conn.execute("CHECKPOINT")
    shutil.rmtree(media_root / "uploads", ignore_errors=True)


def count_rows(db_url: str, table: str) -> int:
    with psycopg.connect(db_url) as conn:
        return query_value(conn, f"SELECT count(*) FROM {table}")


def time_raw_copy(db_url: str, path: Path) -> Run:
    sql = f"COPY {RAW_TABLE} (name, value, timestamp) FROM STDIN (FORMAT csv, HEADER true)"
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(sql) as copy, path.open("rb") as source:
            while chunk := source.read(CHUNK):
                copy.write(chunk)
        conn.commit()
        return Run(time.perf_counter() - started)


def time_service(path: Path, user, profile: bool) -> Run:
    from django.core.files import File

    from dashboard.uploads.models import Upload
    from dashboard.uploads.services import metrics_import

    profiler = cProfile.Profile() if profile else None
    peak_supported = reset_peak("self")
    baseline = memory_mb("self", "VmRSS")
    with path.open("rb") as source:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        outcome = metrics_import(
            file=File(source, name=path.name), owner=user, tz=ZoneInfo("UTC"), allow_duplicate=True
        )
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
    upload = outcome.upload
    assert upload is not None
    assert upload.status == Upload.Status.SUCCEEDED, (upload.status, upload.errors[:3])
    if profiler:
        print(f"--- cProfile of metrics_import ({upload.rows_imported:,} rows), top 25 by cumulative time ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print("--- top 20 by own time ---")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    peak = memory_mb("self", "VmHWM") if peak_supported else None
    return Run(elapsed, peak, baseline)


def time_http(base: str, worker_pid: int, path: Path, scratch: Path) -> Run:
    token = http_json("POST", f"{base}/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})["access"]
    urllib.request.urlopen(f"{base}/healthz", timeout=10).read()
    peak_supported = reset_peak(worker_pid)
    baseline = memory_mb(worker_pid, "VmRSS")
    response = scratch / "response.json"
    command = [
        "curl",
        "--silent",
        "--show-error",
        "--output",
        str(response),
        "--write-out",
        "%{http_code}",
        "--header",
        f"Authorization: Bearer {token}",
        "--header",
        "Expect:",
        "--form",
        f"file=@{path};type=text/csv",
        "--form",
        "tz=UTC",
        f"{base}/api/v1/dashboard/upload?allow_duplicate=true",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    body = json.loads(response.read_text() or "null")
    assert result.stdout == "201", (result.stdout, body)
    assert body["status"] == "succeeded", body
    peak = memory_mb(worker_pid, "VmHWM") if peak_supported else None
    return Run(elapsed, peak, baseline)


def median_run(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda run: run.seconds)
    middle = ordered[len(ordered) // 2]
    peaks = [run.peak_mb for run in runs if run.peak_mb is not None]
    return Run(statistics.median(run.seconds for run in runs), max(peaks) if peaks else None, middle.baseline_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="timings per size and path; the median is shown")
    parser.add_argument("--database", default="bench_uploads")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process import (slows it down)")
    args = parser.parse_args()

    db_url = recreate_database(args.database)
    manage(db_url, "migrate", "--noinput", "-v0")
    with tempfile.TemporaryDirectory(prefix="bench_uploads_") as tmp:
        scratch = Path(tmp)
        media_root = scratch / "media"
        setup_django(db_url, media_root)
        user, raw_upload_id = create_fixtures(db_url)
        # One sync worker; the timeout must outlast a 1,000,000-row request.
        with gunicorn(db_url, workers=1, WEB_TIMEOUT="900") as (base, process):
            (worker_pid,) = child_pids(process.pid)
            # Untimed warm-up of the three paths (imports, first connections, plan caches) on a small file.
            warmup = scratch / "warmup.csv"
            write_csv(warmup, 2_000, seed=7)
            reset_tables(db_url, raw_upload_id, media_root)
            time_raw_copy(db_url, warmup)
            time_service(warmup, user, profile=False)
            reset_tables(db_url, raw_upload_id, media_root)
            time_http(base, worker_pid, warmup, scratch)
            results = []
            for rows in args.rows:
                path = scratch / f"metrics_{rows}.csv"
                started = time.perf_counter()
                write_csv(path, rows)
                size_mb = path.stat().st_size / 1024 / 1024
                elapsed = time.perf_counter() - started
                print(f"generated {rows:,} rows ({size_mb:.1f} MB) in {elapsed:.1f} s", flush=True)
                timings: dict[str, list[Run]] = {"a": [], "b": [], "c": []}
                reset_tables(db_url, raw_upload_id, media_root)
                for round_ in range(args.repeat):
                    # Alternating rounds into the same, growing table.
                    timings["a"].append(time_raw_copy(db_url, path))
                    assert count_rows(db_url, RAW_TABLE) == (3 * round_ + 1) * rows
                    timings["b"].append(time_service(path, user, args.profile))
                    assert count_rows(db_url, RAW_TABLE) == (3 * round_ + 2) * rows
                    timings["c"].append(time_http(base, worker_pid, path, scratch))
                    assert count_rows(db_url, RAW_TABLE) == (3 * round_ + 3) * rows
                    print(
                        "  run: " + "  ".join(f"({key}) {runs[-1].seconds:.2f} s" for key, runs in timings.items()),
                        flush=True,
                    )
                results.append((rows, size_mb, {key: median_run(runs) for key, runs in timings.items()}))
                path.unlink()
            reset_tables(db_url, raw_upload_id, media_root)
    report(results, args.repeat)


def report(results: list[tuple[int, float, dict[str, Run]]], repeat: int) -> None:
    labels = {
        "a": "(a) raw COPY csv",
        "b": "(b) metrics_import in-process",
        "c": "(c) HTTP upload via gunicorn",
    }
    print()
    print(f"repeat={repeat} (median seconds; peak = max VmHWM)")
    for rows, size_mb, runs in results:
        print(f"rows={rows:,}  file {size_mb:.1f} MB")
        raw = runs["a"].seconds
        for key, label in labels.items():
            run = runs[key]
            rate = rows / run.seconds
            line = f"  {label:31s} {run.seconds:7.2f} s {rate:11,.0f} rows/s   {run.seconds / raw:5.2f}x (a)"
            if key == "c":
                verdict = "OK" if run.seconds <= COPY_GOAL * raw else "OVER"
                stretch = "OK" if run.seconds <= COPY_STRETCH * raw else "OVER"
                line += f"   goal <= {COPY_GOAL}x: {verdict} (stretch {COPY_STRETCH}x: {stretch})"
            print(line)
        for key, owner in (("c", "gunicorn worker"), ("b", "bench process, (b)")):
            run = runs[key]
            if run.peak_mb is None:
                print(f"  peak RSS {owner}: unavailable (clear_refs unsupported)")
                continue
            line = f"  peak RSS {owner:18s} {run.peak_mb:7.1f} MB (before {run.baseline_mb:.1f} MB)"
            if key == "c":
                line += f"   goal < {MEMORY_GOAL_MB} MB: {'OK' if run.peak_mb < MEMORY_GOAL_MB else 'OVER'}"
            print(line)


if __name__ == "__main__":
    main()
