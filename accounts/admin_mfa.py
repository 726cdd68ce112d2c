"""The admin's enrolment page: QR code (inline SVG), confirm field, recovery codes shown once."""

from __future__ import annotations

import django_otp
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from accounts.exceptions import MfaConflict, TooManyWrongCodes
from accounts.forms import TotpConfirmForm, throttled_message
from accounts.request_user import request_user
from accounts.services.mfa import (
    mfa_code_parse,
    mfa_enrolment_describe,
    mfa_is_enabled,
    mfa_pending_device,
    mfa_totp_confirm,
    mfa_totp_enrolment_start,
)


def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """GET: the pending enrolment (made when there is none). POST: confirm it with a code; then the recovery codes."""
    user = request_user(request)  # behind admin.site.admin_view (config/urls.py): always a signed-in staff user
    if mfa_is_enabled(user=user):
        return HttpResponseRedirect(reverse("admin:index"))
    context = {**admin.site.each_context(request), "title": "Set up two-factor authentication"}
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            code = mfa_code_parse(raw=form.cleaned_data["code"], allow_recovery=False)
            device, recovery_codes = mfa_totp_confirm(user=user, code=code)
        except ValidationError as exc:
            form.add_error("code", exc.message_dict.get("code", exc.messages))
        except TooManyWrongCodes as exc:
            form.add_error("code", throttled_message(exc))
        except MfaConflict as exc:
            form.add_error(None, exc.message)
        else:
            # This session is now verified with the new device (django-otp's session record).
            django_otp.login(request, device)
            context.update(title="Two-factor authentication is on", recovery_codes=recovery_codes)
            return render(request, "accounts/admin_mfa_enrol.html", context)
    device = mfa_pending_device(user=user)
    enrolment = mfa_enrolment_describe(device=device) if device else mfa_totp_enrolment_start(user=user)
    context.update(form=form, secret=enrolment.secret, qr_svg=mark_safe(enrolment.qr_svg))  # noqa: S308  (segno's own markup)
    return render(request, "accounts/admin_mfa_enrol.html", context)
