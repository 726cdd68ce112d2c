"""Evaluate every alert rule and send what is due: for cron, where no Celery beat runs."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from dashboard.alerts.evaluation import alerts_run


class Command(BaseCommand):
    help = (
        "Evaluate alert rules, record their transitions and send notifications and due retries. "
        "Run it every ALERTS_INTERVAL_SECONDS from cron when no Celery beat is running."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--requested-only",
            action="store_true",
            help="Only the rules a metric write asked to evaluate since the last run (cheap; run it often).",
        )

    def handle(self, *args, requested_only: bool = False, **options) -> None:
        outcome = alerts_run(requested_only=requested_only)
        self.stdout.write(
            f"evaluated {outcome.evaluated} rule(s), skipped {outcome.skipped}: {outcome.fired} fired, "
            f"{outcome.resolved} resolved, {outcome.repeated} repeated; {outcome.attempts} delivery attempt(s)"
        )
