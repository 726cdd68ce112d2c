"""Management commands of accounts: ``mfa_reset`` for a locked-out user (e.g. a superuser who lost the phone)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import RecoveryCode
from accounts.tests.factories import UserFactory
from accounts.tests.mfa import mfa_enable

pytestmark = pytest.mark.django_db


def test_mfa_reset_turns_a_superusers_mfa_off_and_audits(audit_log):
    admin = UserFactory(email="Root@Example.com", is_superuser=True, is_staff=True)
    mfa_enable(admin)
    out = StringIO()
    call_command("mfa_reset", "root@example.COM", stdout=out)
    assert "is off for Root@Example.com" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=admin).exists()
    assert not RecoveryCode.objects.filter(user=admin).exists()
    [event] = audit_log.events("mfa_reset")
    assert (event.user_id, event.target_id, event.had_mfa) == (None, admin.pk, True)


def test_mfa_reset_of_a_user_without_mfa_says_so():
    UserFactory(email="plain@example.com")
    out = StringIO()
    call_command("mfa_reset", "plain@example.com", stdout=out)
    assert "nothing changed" in out.getvalue()


def test_mfa_reset_of_an_unknown_email_fails():
    with pytest.raises(CommandError, match="No user"):
        call_command("mfa_reset", "ghost@example.com", stdout=StringIO())
