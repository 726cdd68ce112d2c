"""Benchmark: the issue's six reads through the served API at 1,000,000 and 10,000,000 metrics, and the upload
ratio at 10,000,000.

Loads one scratch PostgreSQL database per size (50 names, two years up to now, one manager who owns them all) with
COPY, builds the hourly rollup with ``manage.py metrics_rollup rebuild`` (COPY straight into the table bypasses the
import service, which would maintain it), serves each database with its own gunicorn under production settings
(DEBUG off, 2 workers) and times, with a real JWT, in alternating rounds (every request at 1M, then at 10M, then at
1M again ...) so that neither size gets a quieter machine; median of --repeat rounds after two warm-ups:
  series day   GET metrics/series  day buckets, one name, one year
  series month GET metrics/series  month buckets, one name, all data
  summary      GET summary         20 KPIs (every period and aggregation)
  names        GET metrics/names
  list         GET metrics         first page with its count
  kpi series   GET kpis/{id}/series  (last 12 periods, a month KPI)
prints each time, the growth, and checks the goals (each within 1.5x of its 1M time at 10M; the summary under 100 ms
at 10M). At the largest size it times, in alternating rounds (COPY, upload, COPY, upload ...), a raw COPY of a CSV file
into dashboard_metric and the HTTP upload of the same file (the import, rollup maintenance included), and prints their
ratio (goal <= 1.2x), for two shapes of file: rows spread over two years (nearly one rollup cell per row, the worst
case) and rows over the last week (a script's daily or weekly push: many rows per cell).

With ``--baseline-ref REF`` a checkout of REF (a git worktree under /tmp) is served too, on the same databases (the
schema must be the same), and every request and upload alternates between the two trees; the ratios current/baseline
are printed at the end.

    .venv/bin/python bench/bench_scale.py [--sizes 1000000 10000000] [--repeat 7] [--upload-rows 200000]
        [--baseline-ref main] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PG_ADMIN_URL,
    REPO,
    baseline_checkout,
    database_exists,
    database_url,
    gunicorn,
    http_json,
    manage,
    query_value,
    recreate_database,
)

NAMES = [f"{area}.{kind}" for area in ("sales", "web", "ops", "support", "hr") for kind in range(10)]
AGGREGATIONS = ["sum", "avg", "min", "max", "count", "last"]
PERIODS = ["day", "week", "month", "quarter", "year"]
PASSWORD = "bench-Password-2026"
EMAIL = "bench-scale@example.com"
SPAN = timedelta(days=730)
GROWTH_GOAL, SUMMARY_GOAL_MS, UPLOAD_GOAL = 1.5, 100.0, 1.2


def create_user_and_kpis(db_url: str) -> int:
    manage(db_url, "migrate", "--noinput", "-v0")
    with psycopg.connect(db_url) as conn:
        user_id = query_value(
            conn,
            "INSERT INTO accounts_user (password, is_superuser, email, full_name, is_active, is_staff, date_joined,"
            " token_version, authz_version) VALUES ('', false, %s, 'Bench', true, false, now(), 0, %s) RETURNING id",
            [EMAIL, random.getrandbits(63)],
        )
        group_id = query_value(conn, "SELECT id FROM auth_group WHERE name = 'manager'")
        conn.execute("INSERT INTO accounts_user_groups (user_id, group_id) VALUES (%s, %s)", [user_id, group_id])
        for i in range(20):
            conn.execute(
                "INSERT INTO dashboard_kpi (name, slug, description, metric_name, aggregation, period, target,"
                " direction, warning_threshold_pct, unit, created_at) VALUES (%s, %s, '', %s, %s, %s, %s, 'up', 10,"
                " '', now())",
                [f"KPI {i}", f"kpi-{i}", NAMES[i], AGGREGATIONS[i % 6], PERIODS[i % 5], 1000.0],
            )
    manage(
        db_url,
        "shell",
        "-c",
        f"from accounts.models import User; u = User.objects.get(email={EMAIL!r}); "
        f"u.set_password({PASSWORD!r}); u.save()",
    )
    return user_id


def load(db_url: str, user_id: int, rows: int, now: datetime, seed: int) -> float:
    """COPY *rows* metrics over the two years up to *now*, then rebuild the rollup; returns seconds."""
    rng = random.Random(seed)
    span = int(SPAN.total_seconds())
    started = time.perf_counter()
    with (
        psycopg.connect(db_url) as conn,
        conn.cursor().copy(
            "COPY dashboard_metric (name, value, timestamp, owner_id) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "float8", "timestamptz", "int8"])
        for _ in range(rows):
            copy.write_row(
                (rng.choice(NAMES), rng.uniform(0, 1000), now - timedelta(seconds=rng.randrange(span)), user_id)
            )
    copied = time.perf_counter() - started
    manage(db_url, "metrics_rollup", "rebuild")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE dashboard_metric")
        conn.execute("VACUUM ANALYZE dashboard_metrichour")
    total = time.perf_counter() - started
    print(
        f"  loaded {rows:,} rows: COPY {copied:.1f} s, rollup rebuild + VACUUM ANALYZE {total - copied:.1f} s",
        flush=True,
    )
    return total


def median_ms(url: str, token: str, repeat: int) -> float:
    for _ in range(2):
        http_json("GET", url, token=token)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        http_json("GET", url, token=token)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def requests(base: str, kpi_id: int, now: datetime) -> dict[str, str]:
    api = f"{base}/api/v1/dashboard"
    year_ago = (now - timedelta(days=365)).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    name = NAMES[0]
    return {
        "series, day buckets, one name, one year": f"{api}/metrics/series?name={name}&bucket=day&agg=sum"
        f"&from={year_ago:%Y-%m-%dT%H:%M:%SZ}&to={tomorrow:%Y-%m-%dT%H:%M:%SZ}",
        "series, month buckets, one name, all data": f"{api}/metrics/series?name={name}&bucket=month&agg=sum",
        "summary, 20 KPIs": f"{api}/summary",
        "metrics/names": f"{api}/metrics/names",
        "metrics list, first page (with count)": f"{api}/metrics",
        "KPI series (last 12 periods)": f"{api}/kpis/{kpi_id}/series",
    }


def kpi_of(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return query_value(conn, "SELECT id FROM dashboard_kpi WHERE period = 'month' ORDER BY id LIMIT 1")


Results = dict[str, dict[int, dict[str, float]]]  # {tree: {size: {label: median ms}}}


def measure(db_urls: dict[int, str], repeat: int, now: datetime, trees: dict[str, Path]) -> Results:
    """Every request against every size and every tree (this checkout, and the baseline's when given), in alternating
    rounds (the order of the trees flips each round); {tree: {size: {label: median ms}}}."""
    with contextlib.ExitStack() as stack:
        targets: dict[tuple[str, int], tuple[dict[str, str], str]] = {}
        for size, db_url in db_urls.items():
            for tree, repo in trees.items():
                base, _process = stack.enter_context(gunicorn(db_url, workers=2, repo=repo))
                login = {"email": EMAIL, "password": PASSWORD}
                token = http_json("POST", f"{base}/api/v1/auth/login", login)["access"]
                targets[(tree, size)] = (requests(base, kpi_of(db_url), now), token)
        samples: dict[tuple[str, int], dict[str, list[float]]] = {key: {} for key in targets}
        for round_ in range(repeat + 2):
            order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
            for key in order:
                urls, token = targets[key]
                for label, url in urls.items():
                    started = time.perf_counter()
                    http_json("GET", url, token=token)
                    if round_ >= 2:  # two warm-up rounds
                        samples[key].setdefault(label, []).append(time.perf_counter() - started)
        results: Results = {tree: {} for tree in trees}
        for (tree, size), by_label in samples.items():
            results[tree][size] = {label: statistics.median(times) * 1000 for label, times in by_label.items()}
        for tree, by_size in results.items():
            for size, by_label_ms in by_size.items():
                print(f"  {tree}, size {size:,}")
                for label, ms in by_label_ms.items():
                    print(f"    {label:45s} {ms:8.1f} ms", flush=True)
        return results


def write_csv(path: Path, rows: int, now: datetime, span: timedelta = SPAN) -> None:
    rng = random.Random(7)
    start = now - span
    step = span.total_seconds() / rows
    with path.open("w", encoding="utf-8") as out:
        out.write("name,value,timestamp\n")
        for i in range(rows):
            moment = start + timedelta(seconds=int(i * step + rng.random() * step))
            out.write(f"{rng.choice(NAMES)},{rng.uniform(0, 1000):.4f},{moment:%Y-%m-%dT%H:%M:%S}Z\n")


def time_raw_copy(db_url: str, path: Path) -> float:
    sql = "COPY dashboard_metric (name, value, timestamp) FROM STDIN (FORMAT csv, HEADER true)"
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(sql) as copy, path.open("rb") as source:
            while chunk := source.read(1024 * 1024):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def time_upload(base: str, token: str, path: Path, scratch: Path) -> tuple[float, int]:
    response = scratch / "response.json"
    command = [
        "curl", "--silent", "--show-error", "--output", str(response), "--write-out", "%{http_code}",
        "--header", f"Authorization: Bearer {token}", "--header", "Expect:",
        "--form", f"file=@{path};type=text/csv", "--form", "tz=UTC",
        f"{base}/api/v1/dashboard/upload?allow_duplicate=true",
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    body = json.loads(response.read_text() or "null")
    assert result.stdout == "201", (result.stdout, body)
    assert body["status"] == "succeeded", body
    return elapsed, body["id"]


def upload_ratio(
    db_url: str, user_id: int, rows: int, rounds: int, now: datetime, span: timedelta, trees: dict[str, Path]
) -> tuple[float, dict[str, float]]:
    """Alternating rounds of raw COPY and the HTTP upload of the same file into dashboard_metric by every tree; the
    median COPY and each tree's median upload, in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        scratch = Path(tmp)
        path = scratch / "upload.csv"
        write_csv(path, rows, now, span)
        with psycopg.connect(db_url, autocommit=True) as conn:
            # The raw COPY names only the file's columns; the owner comes from a default, as in bench_uploads.
            conn.execute(f"ALTER TABLE dashboard_metric ALTER owner_id SET DEFAULT {int(user_id)}")
            before = query_value(conn, "SELECT COALESCE(MAX(id), 0) FROM dashboard_metric")
        copies: list[float] = []
        uploads: dict[str, list[float]] = {tree: [] for tree in trees}
        with contextlib.ExitStack() as stack:
            servers = {}
            for tree, repo in trees.items():
                base, _process = stack.enter_context(
                    gunicorn(db_url, workers=1, repo=repo, MEDIA_ROOT=str(scratch / "media"), CELERY_BROKER_URL="",
                             WEB_TIMEOUT="900")
                )  # fmt: skip
                login = {"email": EMAIL, "password": PASSWORD}
                servers[tree] = (base, http_json("POST", f"{base}/api/v1/auth/login", login)["access"])
            upload_ids: list[tuple[str, int]] = []
            for round_ in range(rounds):
                copies.append(time_raw_copy(db_url, path))
                line = f"    round: COPY {copies[-1]:.2f} s"
                for tree in trees if round_ % 2 == 0 else list(reversed(trees)):
                    base, token = servers[tree]
                    elapsed, upload_id = time_upload(base, token, path, scratch)
                    uploads[tree].append(elapsed)
                    upload_ids.append((tree, upload_id))
                    line += f", upload ({tree}) {elapsed:.2f} s"
                print(line, flush=True)
            # Leave the database as it was, so a --reuse run measures the same rows: the uploads through the API
            # (their rows and rollup cells go with them), the raw copies (no cells) by id.
            for tree, upload_id in upload_ids:
                base, token = servers[tree]
                http_json("DELETE", f"{base}/api/v1/dashboard/uploads/{upload_id}", token=token)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE dashboard_metric ALTER owner_id DROP DEFAULT")
            conn.execute("DELETE FROM dashboard_metric WHERE id > %s AND upload_id IS NULL", [before])
            conn.execute("VACUUM ANALYZE dashboard_metric")
    return statistics.median(copies), {tree: statistics.median(times) for tree, times in uploads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--upload-rows", type=int, default=200_000)
    parser.add_argument("--upload-rounds", type=int, default=3)
    parser.add_argument("--database", default="bench_scale")
    parser.add_argument("--upload-spans", type=int, nargs="+", default=[730, 7], help="days the upload file covers")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse scratch databases kept by an earlier --keep run")
    parser.add_argument(
        "--baseline-ref",
        default="",
        help="also serve this git ref's checkout on the same databases, in alternating rounds",
    )
    args = parser.parse_args()

    print(
        f"bench_scale {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, sizes {args.sizes}, median of {args.repeat}", flush=True
    )
    now = datetime.now(UTC)
    db_urls = {size: database_url(f"{args.database}_{size}") for size in args.sizes}
    trees = {"current": REPO}
    stack = contextlib.ExitStack()
    if args.baseline_ref:
        trees[f"baseline {args.baseline_ref}"] = stack.enter_context(
            baseline_checkout(args.baseline_ref, "bench-scale")
        )
    try:
        for index, (size, db_url) in enumerate(db_urls.items()):
            print(f"size {size:,}", flush=True)
            if args.reuse and database_exists(f"{args.database}_{size}"):
                print("  reusing the loaded database (migrated to this checkout)")
                manage(db_url, "migrate", "--noinput", "-v0")
                continue
            recreate_database(f"{args.database}_{size}")
            user_id = create_user_and_kpis(db_url)
            load(db_url, user_id, size, now, seed=index)
        results = measure(db_urls, args.repeat, now, trees)
        ratios = {}
        largest = args.sizes[-1]
        with psycopg.connect(db_urls[largest]) as conn:
            user_id = query_value(conn, "SELECT id FROM accounts_user WHERE email = %s", [EMAIL])
        for days in args.upload_spans:
            span = timedelta(days=days)
            print(f"upload ratio at {largest:,} rows ({args.upload_rows:,}-row file over {days} days, "
                  f"{args.upload_rounds} rounds)")  # fmt: skip
            ratios[days] = upload_ratio(
                db_urls[largest], user_id, args.upload_rows, args.upload_rounds, now, span, trees
            )
        report(results, ratios, args)
    finally:
        stack.close()
        if not args.keep:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                for size in args.sizes:
                    conn.execute(f'DROP DATABASE IF EXISTS "{args.database}_{size}" WITH (FORCE)')


def report(results: Results, ratios: dict[int, tuple[float, dict[str, float]]], args: argparse.Namespace) -> None:
    for tree, by_size in results.items():
        sizes = list(by_size)
        first, last = sizes[0], sizes[-1]
        print()
        print(
            f"{tree}: median of {args.repeat} through gunicorn (2 workers, DEBUG off), one manager, 50 names, two years"
        )
        print(f"{'request':45s}" + "".join(f"{size:>14,}" for size in sizes) + "   growth   goal")
        for label in by_size[first]:
            times = [by_size[size][label] for size in sizes]
            growth = times[-1] / times[0]
            verdict = "OK" if growth <= GROWTH_GOAL else "OVER"
            line = f"{label:45s}" + "".join(f"{t:11.1f} ms" for t in times)
            line += f"  {growth:5.2f}x   <= {GROWTH_GOAL}x {verdict}"
            if label.startswith("summary"):
                line += f"; < {SUMMARY_GOAL_MS:.0f} ms at {last:,}: {'OK' if times[-1] < SUMMARY_GOAL_MS else 'OVER'}"
            print(line)
    trees = list(results)
    last = list(results[trees[0]])[-1]
    for days, (copy_s, uploads) in ratios.items():
        for tree, upload_s in uploads.items():
            verdict = "OK" if upload_s <= UPLOAD_GOAL * copy_s else "OVER"
            print(
                f"{tree}: upload at {last:,} rows, {args.upload_rows:,}-row file over {days} days: raw COPY "
                f"{copy_s:.2f} s, HTTP upload {upload_s:.2f} s (median of {args.upload_rounds}, alternating): "
                f"{upload_s / copy_s:.2f}x   goal <= {UPLOAD_GOAL}x: {verdict}"
            )
    if len(trees) > 1:
        current, baseline = trees
        print()
        print(f"{current} / {baseline}, same databases, alternating rounds")
        for size in results[current]:
            for label, ms in results[current][size].items():
                print(f"  {size:>12,}  {label:45s} {ms / results[baseline][size][label]:5.2f}x")
        for days, (_, uploads) in ratios.items():
            print(f"  {'':12s}  {f'upload over {days} days':45s} {uploads[current] / uploads[baseline]:5.2f}x")


if __name__ == "__main__":
    main()
