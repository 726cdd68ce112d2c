"""Alerts on a real scheduler: a Celery worker and Celery beat on the local Redis, a real SMTP server and a real webhook
receiver. An import (``manage.py import_metrics``, another process) queues an evaluation that a worker runs; the rule
fires, the mail arrives, the webhook is retried by Celery tasks until it is delivered; beat alone then catches a
metric written behind every trigger's back.

PostgreSQL only: the worker, beat and the import are other processes sharing the test database (transactional test).
This process never enqueues anything, so its Celery configuration (used by the upload worker tests) is left alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from accounts.tests.test_mail_smtp import Collector, free_port
from conftest import port_open
from dashboard.alerts.models import AlertDelivery, AlertRule
from dashboard.alerts.tests.receivers import webhook_receiver
from dashboard.metrics.models import Metric
from dashboard.tests.factories import AlertRuleFactory, KPIFactory
from dashboard.uploads.tests.test_worker import BROKER_URL, REDIS_HOST, REDIS_PORT, _database_url, wait_for

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

QUEUE = f"dashboard-alerts-test-{uuid.uuid4().hex[:10]}"
REPO_ROOT = Path(__file__).resolve().parents[3]


class Processes:
    """Celery worker, beat and management commands on the test database; every one stopped at the end."""

    def __init__(self, log_dir: Path, extra_env: dict[str, str]):
        self.log_dir = log_dir
        self.extra_env = extra_env
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "CELERY_"))}
        env.pop("REDIS_URL", None)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="false",
            SECRET_KEY=settings.SECRET_KEY,
            DATABASE_URL=_database_url(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CELERY_BROKER_URL=BROKER_URL,
            CELERY_TASK_DEFAULT_QUEUE=QUEUE,
            LOG_LEVEL="WARNING",
            **self.extra_env,
        )
        return env

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", *args],
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append((process, log))
        return process

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.started)

    def stop_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _forget_queue() -> None:
    """Remove this run's queue, its bindings and any unacknowledged deliveries of it from the shared Redis db."""
    client = redis.Redis.from_url(BROKER_URL)
    client.delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")
    for tag, delivery in client.hgetall("unacked").items():
        if QUEUE.encode() in delivery:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


@pytest.fixture
def smtp():
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_worker_and_beat_evaluate_and_deliver(require_service, smtp, tmp_path):
    require_service("Redis", port_open(REDIS_HOST, REDIS_PORT))
    controller, mailbox = smtp
    owner = UserFactory(is_superuser=True, email="owner@example.com")

    with webhook_receiver(statuses=[500, 500, 200]) as receiver:
        processes = Processes(
            tmp_path,
            {
                "EMAIL_URL": f"smtp://127.0.0.1:{controller.port}",
                "DEFAULT_FROM_EMAIL": "alerts@dashboard.test",
                "ALERTS_INTERVAL_SECONDS": "1",
                "ALERTS_WEBHOOK_BACKOFF_SECONDS": "0.5",
                "ALERTS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            },
        )
        revenue_rule = AlertRuleFactory(
            created_by=owner,
            kpi=KPIFactory(name="Revenue", metric_name="revenue", period="day"),
            threshold=100,
            channels=[{"type": "email", "to": ["ops@example.com"]}, {"type": "webhook", "url": receiver.url}],
        )
        signups_rule = AlertRuleFactory(
            created_by=owner,
            kpi=KPIFactory(name="Signups", metric_name="signups", period="day"),
            threshold=5,
            channels=[{"type": "email", "to": ["growth@example.com"]}],
        )
        node = f"{QUEUE}@{socket.gethostname()}"
        try:
            processes.start(
                "worker", "worker", "--pool=solo", "-l", "warning", "-Q", QUEUE, "-n", node, "--without-gossip"
            )
            # 1. An import in another process queues an evaluation; the worker runs it and the rule fires.
            now = timezone.now()
            data = tmp_path / "revenue.csv"
            data.write_text(f"name,value,timestamp\nrevenue,80,{now.isoformat()}\nrevenue,70,{now.isoformat()}\n")
            imported = processes.manage("import_metrics", str(data), "--owner", owner.email)
            assert imported.returncode == 0, imported.stderr

            def revenue_firing():
                revenue_rule.refresh_from_db()
                return revenue_rule.state == AlertRule.State.FIRING

            wait_for(revenue_firing, timeout=30, what="the import to fire the revenue rule", details=processes.logs)
            wait_for(lambda: len(mailbox.messages) >= 1, timeout=15, what="the firing mail", details=processes.logs)
            assert mailbox.messages[0]["To"] == "ops@example.com"
            assert str(make_header(decode_header(mailbox.messages[0]["Subject"]))).startswith("[Dashboard] Firing:")
            # The webhook answered 500 twice: Celery tasks retried it (0.5 s, then 1 s later) until the 200.
            wait_for(
                lambda: len(receiver.requests) >= 3, timeout=20, what="three webhook attempts", details=processes.logs
            )
            assert len({request.headers["Dashboard-Event-Id"] for request in receiver.requests}) == 1
            event = revenue_rule.events.get()
            wait_for(
                lambda: event.deliveries.filter(channel="webhook", delivered_at__isnull=False).exists(),
                timeout=10,
                what="the webhook delivery to be recorded",
            )
            webhook_attempts = list(
                event.deliveries.filter(channel="webhook").order_by("attempt").values_list("attempt", "status_code")
            )
            assert webhook_attempts == [(1, 500), (2, 500), (3, 200)]
            assert signups_rule.events.count() == 0  # nothing has touched signups yet

            # 2. Beat: a metric written behind every trigger's back is found by the periodic evaluation alone.
            processes.start("beat", "beat", "-l", "warning", "--schedule", str(tmp_path / "beat-schedule"))
            Metric.objects.create(owner=owner, name="signups", value=9, timestamp=timezone.now())

            def signups_firing():
                signups_rule.refresh_from_db()
                return signups_rule.state == AlertRule.State.FIRING

            wait_for(signups_firing, timeout=30, what="beat to fire the signups rule", details=processes.logs)
            wait_for(
                lambda: any(message["To"] == "growth@example.com" for message in mailbox.messages),
                timeout=15,
                what="the signups mail",
                details=processes.logs,
            )
            # Beat keeps evaluating: the readings move on while the state stays, and nothing is sent twice.
            evaluated = signups_rule.last_evaluated_at
            assert evaluated is not None
            wait_for(
                lambda: AlertRule.objects.filter(pk=signups_rule.pk, last_evaluated_at__gt=evaluated).exists(),
                timeout=15,
                what="another beat evaluation",
                details=processes.logs,
            )
            assert signups_rule.events.count() == 1
            assert revenue_rule.events.count() == 1
            assert AlertDelivery.objects.filter(event__rule=signups_rule).count() == 1
            assert revenue_rule.last_evaluated_at is not None
            assert timezone.now() - revenue_rule.last_evaluated_at < timedelta(minutes=5)
        finally:
            processes.stop_all()
            _forget_queue()
