"""``manage.py seed_demo``: demo users for every role, a dozen KPIs and a year of metrics up to today. Idempotent."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.demo import KPIS, DemoSeedResult, demo_seed


class Command(BaseCommand):
    help = (
        "Create demo users (one per role, staff, @demo.local), a dozen KPIs with targets and a year of metrics up to "
        "today. Safe to run again: nothing is duplicated, and missing days up to today are added."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo users new random passwords and print them (DEBUG only).",
        )

    def handle(self, *args, reset_passwords: bool, **options):
        if reset_passwords and not settings.DEBUG:
            raise CommandError("--reset-passwords prints passwords, so it runs only with DEBUG on.")
        result = demo_seed(reset_passwords=reset_passwords)
        for role_name in result.missing_roles:
            self.stderr.write(f"Role {role_name!r} does not exist (run migrate); no demo {role_name}.")
        self._report(result)

    def _report(self, result: DemoSeedResult) -> None:
        users, passwords, added, created_kpis = (
            result.users,
            result.passwords,
            result.metrics_added,
            result.kpis_created,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(users)} users, {len(KPIS)} KPIs ({len(created_kpis)} new), "
                f"{added:,} metrics added, {len(result.boards_created)} new boards."
            )
        )
        for role_name, user in users.items():
            if user.email in passwords and settings.DEBUG:
                self.stdout.write(f"  {role_name:<11} {user.email:<24} password: {passwords[user.email]}")
            else:
                self.stdout.write(f"  {role_name:<11} {user.email}")
        if passwords and not settings.DEBUG:
            self.stdout.write(
                "Passwords are printed only with DEBUG on. Set one with: manage.py changepassword manager@demo.local"
            )
        elif not passwords:
            self.stdout.write(
                "Passwords were printed when the users were created; new ones: seed_demo --reset-passwords (DEBUG on)."
            )
        self.stdout.write(
            "Log in at /admin/ as manager@demo.local to see every metric; analyst@demo.local sees only its own, "
            "viewer@demo.local owns none. Boards: /admin/dashboard/board/ (Sales overview is shared with viewer and "
            "analyst, who see their own numbers on it)."
        )
        self.stdout.write(
            "The demo users have no two-factor authentication. With ADMIN_REQUIRE_MFA on (the default when DEBUG is "
            "off) the admin asks each to enrol at the first login: scan the QR code with an authenticator app and "
            "enter a code. Through the API: POST /api/v1/users/me/mfa/totp, then .../totp/confirm."
        )
