"""``manage.py metrics_rollup verify|rebuild``: check the hourly and daily rollups and the totals against the raw
metrics, or build them anew."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard.rollup.maintenance import rollup_rebuild, rollup_verify


class Command(BaseCommand):
    help = (
        "verify: compare every hour and day cell and total with what its raw metrics make (exit status 1 on any "
        "difference, listing the first ones). rebuild: empty the rollups and build them from the raw metrics, in one "
        "transaction (writers of metrics wait for it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify", "rebuild"])
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, action: str, database: str, **options):
        if action == "rebuild":
            cells = rollup_rebuild(using=database)
            self.stdout.write(f"Rebuilt the rollup: {cells} cell(s).")
            return
        check = rollup_verify(using=database)
        if check.ok:
            self.stdout.write(f"The rollup matches the raw metrics: {check.stored} cell(s).")
            return
        for kind, name, hour, owner_id, source in check.mismatches:
            self.stderr.write(f"{kind}: name={name!r} hour={hour} owner={owner_id} source={source}")
        raise CommandError(
            f"The rollup differs from the raw metrics ({check.stored} stored, {check.expected} expected; "
            f"first {len(check.mismatches)} differences above). Run `manage.py metrics_rollup rebuild`."
        )
