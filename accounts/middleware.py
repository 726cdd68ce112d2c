"""The admin's two-factor gate: staff sessions must be verified with a code, and (with ADMIN_REQUIRE_MFA) staff
without two-factor authentication enrol before any other admin page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import get_script_prefix, reverse

from accounts.services.mfa import mfa_is_enabled


class AdminMFAMiddleware:
    """Runs after django-otp's OTPMiddleware (``request.user.is_verified()``); only on admin paths.

    - A staff member with MFA whose session was not opened with a code (logged in before enrolling, say) is logged out
      and sent to the login page, which asks for the code.
    - With ``ADMIN_REQUIRE_MFA``, a staff member without MFA is sent to the enrolment page before any other admin page.
    The login, logout and enrolment pages themselves stay reachable.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._admin_root: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # reverse() on every request showed in bench/bench_api.py; the admin's path (after any script prefix) is fixed.
        if self._admin_root is None:
            self._admin_root = "/" + reverse("admin:index")[len(get_script_prefix()) :]
        if request.path_info.startswith(self._admin_root):
            redirect = self._gate(request)
            if redirect is not None:
                return redirect
        return self.get_response(request)

    def _gate(self, request: HttpRequest) -> HttpResponse | None:
        if request.path in {reverse("admin:login"), reverse("admin:logout"), reverse("admin-mfa-enrol")}:
            return None
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return None
        if mfa_is_enabled(user=user):
            if user.is_verified():
                return None
            logout(request)
            return HttpResponseRedirect(f"{reverse('admin:login')}?{urlencode({'next': request.get_full_path()})}")
        if settings.ADMIN_REQUIRE_MFA:
            return HttpResponseRedirect(reverse("admin-mfa-enrol"))
        return None
