"""Delete expired Idempotency-Key records (older than IDEMPOTENCY_TTL_HOURS) and abandoned claims."""

from django.core.management.base import BaseCommand

from idempotency.services import idempotency_records_purge


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key records and claims abandoned by a dead process. Run it hourly (cron)."

    def handle(self, *args, **options) -> None:
        deleted = idempotency_records_purge()
        self.stdout.write(f"Deleted {deleted} idempotency record(s).")
