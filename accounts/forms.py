"""Admin forms for the email-login user."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm

from accounts.models import User


class CaseInsensitiveEmailMixin:
    """A field error (not the database constraint's form-wide one) when the email is taken in any case."""

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        taken = User.objects.filter(email__iexact=email)
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
