"""``manage.py mfa_reset <email>``: turn a user's two-factor authentication off, e.g. a superuser who lost the phone."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services.mfa import mfa_reset


class Command(BaseCommand):
    help = "Turn off two-factor authentication (TOTP device and recovery codes) of the user with this email."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with the email {email!r}.")
        had_mfa = mfa_reset(user=user)
        if had_mfa:
            self.stdout.write(self.style.SUCCESS(f"Two-factor authentication is off for {user.email}."))
        else:
            self.stdout.write(f"{user.email} had no two-factor authentication; nothing changed.")
        self.stdout.write("At the next admin login (with ADMIN_REQUIRE_MFA on) the user is asked to enrol again.")
