"""Admin forms for the email-login user, and the admin login with its two-factor code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError

from accounts.exceptions import TooManyWrongCodes
from accounts.models import User
from accounts.services.mfa import mfa_code_parse, mfa_code_verify, mfa_device


class CaseInsensitiveEmailMixin:
    """A field error (not the database constraint's form-wide one) when the email is taken in any case."""

    # Provided by the ModelForm this is mixed into.
    cleaned_data: dict[str, Any]
    instance: User

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        taken = User.objects.with_email(email)
        if self.instance.pk is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("A user with this email address already exists.", code="unique")
        return email


class UserCreationForm(CaseInsensitiveEmailMixin, BaseUserCreationForm):
    """Django's creation form: the password is checked by AUTH_PASSWORD_VALIDATORS before the user is saved."""

    class Meta:
        model = User
        fields = ("email", "full_name")


class UserChangeForm(CaseInsensitiveEmailMixin, DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


def throttled_message(exc: TooManyWrongCodes) -> str:
    wait = f" {exc.wait} seconds" if exc.wait else " a moment"
    return f"Too many wrong codes; wait{wait} before trying again."


class TotpConfirmForm(forms.Form):
    """The admin enrolment page's field: a code from the app being set up."""

    code = forms.CharField(
        label="Code from the app",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class AdminLoginForm(AdminAuthenticationForm):
    """The admin login: email, password and, for staff with two-factor authentication, a code.

    The code is asked for only once the password is right; a right one marks the session as verified (django-otp
    records ``user.otp_device`` in the session at login).
    """

    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=64,
        help_text="Only with two-factor authentication: the 6-digit code from your app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": "Enter the code from your authenticator app (or a recovery code).",
        "otp_invalid": "The code is not correct.",
    }

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        device = mfa_device(user=user) if user is not None else None
        if device is None:
            return cleaned
        raw = (cleaned.get("otp_token") or "").strip()
        if not raw:
            raise ValidationError(self.error_messages["otp_required"], code="otp_required")
        try:
            code = mfa_code_parse(raw=raw)
            verified = mfa_code_verify(user=user, code=code)
        except ValidationError:
            raise ValidationError(self.error_messages["otp_invalid"], code="otp_invalid") from None
        except TooManyWrongCodes as exc:
            raise ValidationError(throttled_message(exc), code="throttled") from None
        if not verified:
            raise ValidationError(self.error_messages["otp_invalid"], code="otp_invalid")
        user.otp_device = device
        return cleaned
