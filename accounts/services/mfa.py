"""Two-factor authentication: TOTP enrolment (django-otp's TOTPDevice), recovery codes, the two-step login, resets.

A user has MFA on when they have a *confirmed* TOTP device. Recovery codes are 80 random bits each, stored only as a
SHA-256 digest (with the user id mixed in): at that entropy a slow hash adds nothing, and a digest lets a code be found
and spent in one conditional UPDATE. Wrong codes, TOTP or recovery, count on the TOTP device's own exponential
back-off (django-otp's ThrottlingMixin), so guessing is slowed per account whatever the client.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

import segno
from django.contrib.auth.models import update_last_login
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import rbac
from accounts.exceptions import InvalidCredentials, MfaConflict, MfaTokenNotValid, TooManyWrongCodes
from accounts.models import RecoveryCode, User
from accounts.services.tokens import refresh_tokens_revoke, token_pair_issue

audit = logging.getLogger("dashboard.audit")

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 16  # base32 characters: 80 bits
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
MFA_TOKEN_MAX_AGE_SECONDS = 300
MFA_TOKEN_MAX_FAILURES = 5
# Its own salt: an mfa_token is no JWT and no other signed value of the project, so it is useless anywhere else.
MFA_TOKEN_SALT = "accounts.mfa.login-token"
_MFA_TOKEN_CACHE_PREFIX = "mfa-login:"
DEVICE_NAME = "authenticator"

CODE_FORMAT_MESSAGE = "Enter the 6-digit code from your authenticator app or a recovery code."
TOTP_FORMAT_MESSAGE = "Enter the 6-digit code from your authenticator app."
WRONG_CODE_MESSAGE = "The code is not correct."


class CodeKind(enum.StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery"


@dataclass(frozen=True)
class MfaCode:
    """A code as typed by the user, normalised: six digits, or sixteen base32 letters (hyphens and spaces dropped)."""

    kind: CodeKind
    value: str


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class MfaChallenge:
    """What the first login step answers for a user with MFA: no tokens, a short-lived single-use mfa_token."""

    mfa_token: str
    mfa_required: bool = True


def mfa_code_parse(*, raw: str, allow_recovery: bool = True) -> MfaCode:
    """The normalised code, or a ValidationError on ``code`` when *raw* is neither format."""
    value = re.sub(r"[\s-]", "", raw or "").lower()
    if re.fullmatch(r"\d{6}", value):
        return MfaCode(kind=CodeKind.TOTP, value=value)
    if allow_recovery and re.fullmatch(rf"[{_BASE32}]{{{RECOVERY_CODE_LENGTH}}}", value):
        return MfaCode(kind=CodeKind.RECOVERY, value=value)
    raise ValidationError({"code": [CODE_FORMAT_MESSAGE if allow_recovery else TOTP_FORMAT_MESSAGE]})


def mfa_is_enabled(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_device(*, user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, if MFA is on."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def _qr_svg(uri: str) -> str:
    # Inline SVG markup with presentation attributes only (no style attribute): nothing the CSP refuses.
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", svgclass="mfa-qr")


def mfa_totp_enrolment_start(*, user: User) -> TotpEnrolment:
    """Start (or restart) a TOTP enrolment: a new unconfirmed device replaces any pending one.

    Refused with MfaConflict while MFA is on: replacing the authenticator needs disabling first (password and code),
    so a stolen access token alone cannot move the second factor to another phone.
    """
    with transaction.atomic():
        if mfa_is_enabled(user=user):
            raise MfaConflict("Two-factor authentication is already on; turn it off before enrolling again.")
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    audit.info("mfa enrolment started", extra={"event": "mfa_enrolment_started", "user_id": user.pk})
    return mfa_enrolment_describe(device=device)


def mfa_enrolment_describe(*, device: TOTPDevice) -> TotpEnrolment:
    uri = device.config_url
    secret = base64.b32encode(device.bin_key).decode()
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=_qr_svg(uri))


def mfa_pending_device(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def _check_allowed(device: TOTPDevice) -> None:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return
    locked_until = (data or {}).get("locked_until")
    wait = max(1, int((locked_until - timezone.now()).total_seconds()) + 1) if locked_until else None
    audit.warning("mfa code throttled", extra={"event": "throttled", "scope": "mfa", "user_id": device.user_id})
    raise TooManyWrongCodes(wait=wait)


def _totp_verify(*, device_id: int, value: str) -> bool:
    """Verify a TOTP code on a locked device row, so two requests cannot both spend one code (replay: ``last_t``)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device_id)
        _check_allowed(device)
        return device.verify_token(value)


def _recovery_digest(*, user_id: int, value: str) -> str:
    return hashlib.sha256(f"{user_id}:{value}".encode()).hexdigest()


def _recovery_spend(*, device: TOTPDevice, value: str) -> bool:
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        _check_allowed(device)
        spent = RecoveryCode.objects.filter(
            user_id=device.user_id,
            digest=_recovery_digest(user_id=device.user_id, value=value),
            used_at__isnull=True,
        ).update(used_at=timezone.now())
        if spent:
            device.throttle_reset(commit=True)
        else:
            device.throttle_increment(commit=True)
    if spent:
        remaining = RecoveryCode.objects.filter(user_id=device.user_id, used_at__isnull=True).count()
        audit.warning(
            "mfa recovery code used",
            extra={"event": "mfa_recovery_code_used", "user_id": device.user_id, "remaining": remaining},
        )
    return bool(spent)


def mfa_code_verify(*, user: User, code: MfaCode) -> bool:
    """Whether *code* is a valid TOTP code (never one already accepted) or an unused recovery code of *user*.

    A recovery code is spent by a successful check. Raises TooManyWrongCodes while the device's back-off runs; a user
    without MFA never verifies.
    """
    device = mfa_device(user=user)
    if device is None:
        return False
    if code.kind == CodeKind.RECOVERY:
        verified = _recovery_spend(device=device, value=code.value)
    else:
        verified = _totp_verify(device_id=device.pk, value=code.value)
    if not verified:
        audit.warning("mfa code refused", extra={"event": "mfa_code_failed", "user_id": user.pk, "kind": code.kind})
    return verified


def _recovery_codes_issue(*, user: User) -> list[str]:
    """Replace every recovery code of *user* with ten new ones; returns the codes, formatted, for showing once."""
    codes = ["".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_LENGTH)) for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, digest=_recovery_digest(user_id=user.pk, value=code)) for code in codes]
    )
    return ["-".join(code[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)) for code in codes]


def mfa_totp_confirm(*, user: User, code: MfaCode, keep_refresh_jti: str | None = None) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending enrolment with a code from it: MFA is on, ten recovery codes are returned (once), and every
    refresh token of the user but *keep_refresh_jti* (the caller's session) is revoked.

    MfaConflict without a pending enrolment or when MFA is already on; a wrong code is a field error on ``code``.
    """
    if code.kind != CodeKind.TOTP:
        raise ValidationError({"code": [TOTP_FORMAT_MESSAGE]})
    if mfa_is_enabled(user=user):
        raise MfaConflict("Two-factor authentication is already on.")
    device = mfa_pending_device(user=user)
    if device is None:
        raise MfaConflict("No TOTP enrolment is pending; start one with POST users/me/mfa/totp.")
    if not _totp_verify(device_id=device.pk, value=code.value):
        audit.warning("mfa confirm refused", extra={"event": "mfa_code_failed", "user_id": user.pk, "kind": "totp"})
        raise ValidationError({"code": [WRONG_CODE_MESSAGE]})
    with transaction.atomic():
        device.refresh_from_db()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _recovery_codes_issue(user=user)
        revoked = refresh_tokens_revoke(user=user, keep_jti=keep_refresh_jti)
    audit.info("mfa enabled", extra={"event": "mfa_enabled", "user_id": user.pk, "tokens_revoked": revoked})
    return device, codes


def _require_enabled(user: User) -> None:
    if not mfa_is_enabled(user=user):
        raise MfaConflict("Two-factor authentication is not on.")


def mfa_disable(*, user: User, password: str, code: MfaCode) -> None:
    """Turn MFA off with the password and a code (TOTP or recovery); wrong ones are field errors."""
    _require_enabled(user)
    if not user.check_password(password):
        audit.warning("mfa disable refused", extra={"event": "mfa_disable_failed", "user_id": user.pk})
        raise ValidationError({"password": ["The password is not correct."]})
    if not mfa_code_verify(user=user, code=code):
        raise ValidationError({"code": [WRONG_CODE_MESSAGE]})
    _mfa_remove(user=user)
    audit.info("mfa disabled", extra={"event": "mfa_disabled", "user_id": user.pk})


def mfa_recovery_codes_regenerate(*, user: User, code: MfaCode) -> list[str]:
    """Ten new recovery codes for a code (TOTP or recovery); the old ones stop working."""
    _require_enabled(user)
    if not mfa_code_verify(user=user, code=code):
        raise ValidationError({"code": [WRONG_CODE_MESSAGE]})
    with transaction.atomic():
        codes = _recovery_codes_issue(user=user)
    audit.info("mfa recovery codes regenerated", extra={"event": "mfa_recovery_codes_regenerated", "user_id": user.pk})
    return codes


def _mfa_remove(*, user: User) -> bool:
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
    return bool(removed)


def mfa_reset(*, user: User, actor: User | None = None) -> bool:
    """An administrator turns *user*'s MFA off (lost phone), under the no-escalation rules when *actor* is given.

    Returns whether MFA was on. Without an actor the caller is trusted (the shell, a management command).
    """
    if actor is not None:
        rbac.check_user_change(actor=actor, target=user)
    had_mfa = mfa_is_enabled(user=user)
    _mfa_remove(user=user)
    audit.warning(
        "mfa reset",
        extra={
            "event": "mfa_reset",
            "user_id": getattr(actor, "pk", None),
            "target_id": user.pk,
            "had_mfa": had_mfa,
        },
    )
    return had_mfa


# --- the two-step login -------------------------------------------------------------------------------------


def _cache_key(jti: str) -> str:
    return _MFA_TOKEN_CACHE_PREFIX + jti


def mfa_challenge_issue(*, user: User) -> MfaChallenge:
    """Step one for a user with MFA whose password was right: a signed token, bound to the account and its token
    version, recorded server-side for five minutes; single-use, and dead after five wrong codes."""
    jti = secrets.token_urlsafe(24)
    token = signing.dumps({"uid": user.pk, "ver": user.token_version, "jti": jti}, salt=MFA_TOKEN_SALT)
    cache.set(_cache_key(jti), user.pk, timeout=MFA_TOKEN_MAX_AGE_SECONDS)
    cache.set(_cache_key(jti) + ":failures", 0, timeout=MFA_TOKEN_MAX_AGE_SECONDS)
    audit.info("mfa challenge issued", extra={"event": "mfa_challenge", "user_id": user.pk})
    return MfaChallenge(mfa_token=token)


def mfa_token_user_id(*, mfa_token: str) -> int | None:
    """The user id of a correctly signed mfa_token (expired or not), for per-account throttling; else None."""
    try:
        payload = signing.loads(mfa_token, salt=MFA_TOKEN_SALT)
    except signing.BadSignature:
        return None
    uid = payload.get("uid") if isinstance(payload, dict) else None
    return uid if isinstance(uid, int) else None


def _challenge_user(mfa_token: str) -> tuple[User, str]:
    try:
        payload = signing.loads(mfa_token, salt=MFA_TOKEN_SALT, max_age=MFA_TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise MfaTokenNotValid() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("jti"), str):
        raise MfaTokenNotValid()
    jti = payload["jti"]
    if cache.get(_cache_key(jti)) != payload.get("uid"):
        raise MfaTokenNotValid()
    uid = payload.get("uid")  # always set in the tokens this module signs
    user = User.objects.filter(pk=uid, is_active=True).first() if uid is not None else None
    if user is None or user.token_version != payload.get("ver"):
        raise MfaTokenNotValid()
    return user, jti


def _challenge_failure(jti: str) -> int:
    key = _cache_key(jti) + ":failures"
    cache.add(key, 0, timeout=MFA_TOKEN_MAX_AGE_SECONDS)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired in between
        failures = MFA_TOKEN_MAX_FAILURES
    if failures >= MFA_TOKEN_MAX_FAILURES:
        cache.delete(_cache_key(jti))
    return failures


def mfa_login_complete(*, mfa_token: str, code: MfaCode) -> dict[str, str]:
    """Step two: the mfa_token and a code → a token pair.

    A bad, expired, used or killed mfa_token is MfaTokenNotValid (401 ``token_not_valid``); a wrong code is
    InvalidCredentials (401) and counts against the token (five kill it) and the device's back-off (TooManyWrongCodes).
    """
    user, jti = _challenge_user(mfa_token)
    if not mfa_code_verify(user=user, code=code):
        failures = _challenge_failure(jti)
        audit.warning(
            "login failed", extra={"event": "login_failed", "user_id": user.pk, "step": "mfa", "failures": failures}
        )
        raise InvalidCredentials("The code is not correct.")
    # Single use: only the request that removes the record gets tokens.
    if not cache.delete(_cache_key(jti)):
        raise MfaTokenNotValid()
    cache.delete(_cache_key(jti) + ":failures")
    update_last_login(User, user)  # the signal receiver's sender argument; it is not used
    audit.info("login", extra={"event": "login", "user_id": user.pk, "mfa": code.kind.value})
    return token_pair_issue(user=user)
