"""Test helpers for two-factor authentication: codes computed the way an authenticator app computes them."""

from __future__ import annotations

import time

from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services.mfa import mfa_code_parse, mfa_totp_confirm, mfa_totp_enrolment_start


def totp_code_at(device: TOTPDevice, t: int) -> str:
    """The six-digit code for time step *t* of *device* (RFC 6238 is HOTP of the step counter)."""
    return f"{hotp(device.bin_key, t, digits=device.digits):0{device.digits}d}"


def fresh_code(user: User, *, confirmed: bool | None = None) -> str:
    """A code the server accepts now for *user*'s latest device: inside the window, above the last accepted step.

    Steps about to leave the window (within 3 s of a step boundary) are skipped, so the test does not race the clock.
    """
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    device = devices.latest("pk")
    elapsed = time.time() - device.t0
    now_t = int(elapsed // device.step) + device.drift
    near_boundary = device.step - (elapsed % device.step) < 3
    for t in range(now_t - device.tolerance + (1 if near_boundary else 0), now_t + device.tolerance + 1):
        if t > device.last_t:
            return totp_code_at(device, t)
    raise AssertionError("no unused TOTP step in the window")


def wrong_code(user: User) -> str:
    """Six digits that no step in the window produces."""
    device = TOTPDevice.objects.filter(user=user).latest("pk")
    now_t = int((time.time() - device.t0) // device.step) + device.drift
    valid = {totp_code_at(device, t) for t in range(now_t - 3, now_t + 4)}
    return next(code for code in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if code not in valid)


def mfa_enable(user: User) -> list[str]:
    """Enrol and confirm *user* through the services; returns the recovery codes."""
    mfa_totp_enrolment_start(user=user)
    _device, codes = mfa_totp_confirm(user=user, code=mfa_code_parse(raw=fresh_code(user, confirmed=False)))
    return codes
