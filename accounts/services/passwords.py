"""Password change and reset; both revoke every token of the user."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from accounts.outbox import mail_prints_messages, mail_send_after_commit

audit = logging.getLogger("dashboard.audit")
logger = logging.getLogger("dashboard.mail")

RESET_LINK_INVALID = "The reset link is invalid or has expired."


def password_validate(*, password: str, user: User, field: str = "password") -> None:
    """Django's password validators for *user*; failures become a field error on *field*."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def _password_set(*, user: User, new_password: str) -> None:
    # Saving a new password bumps the token version: every earlier token of the user stops working.
    user.set_password(new_password)
    user.save(update_fields=["password"])


def password_change(*, user: User, current_password: str, new_password: str) -> None:
    """Change the password of *user*; a wrong current password is a field error, not an authentication failure."""
    if not user.check_password(current_password):
        audit.warning("password change refused", extra={"event": "password_change_failed", "user_id": user.pk})
        raise ValidationError({"current_password": ["The current password is not correct."]})
    password_validate(password=new_password, user=user, field="new_password")
    _password_set(user=user, new_password=new_password)
    audit.info("password changed", extra={"event": "password_changed", "user_id": user.pk})


def password_reset_link(*, user: User) -> str:
    """The SPA's reset page with the uid and a single-use token for *user*."""
    query = urlencode(
        {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}
    )
    return f"{settings.FRONTEND_URL.rstrip('/')}/reset-password?{query}"


def password_reset_request(*, email: str, send: Callable[[EmailMessage], None] = mail_send_after_commit) -> None:
    """Mail a reset link when *email* belongs to an active account; says nothing either way.

    The message goes to *send*, by default a thread started after commit, so a known address (a mail to send) and an
    unknown one answer in the same time. With DEBUG off and a backend that prints messages (console), no message is
    made at all: the link would land in the server log.
    """
    user = User.objects.with_email(email).filter(is_active=True).first()
    if user is None or not user.has_usable_password():
        audit.info("password reset requested for unknown account", extra={"event": "password_reset_requested"})
        return
    if mail_prints_messages():
        logger.error("password reset mail not sent: EMAIL_BACKEND would print it into the log (set EMAIL_URL)")
        return
    link = password_reset_link(user=user)
    message = EmailMessage(
        subject=f"{settings.PROJECT_NAME}: reset your password",
        body=(
            f"Someone asked to reset the password of your {settings.PROJECT_NAME} account.\n\n"
            f"Choose a new password here:\n{link}\n\n"
            "If it was not you, ignore this message; your password stays as it is."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    send(message)
    audit.info("password reset requested", extra={"event": "password_reset_requested", "user_id": user.pk})


def password_reset_mail_send_now(message: EmailMessage) -> None:
    """The ``send`` of :func:`password_reset_request` in a worker, where nobody waits for it."""
    message.send()


def _user_from_uid(uid: str) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    """Set a new password with a reset token: single use, and dead once the password has changed."""
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        audit.warning("password reset refused", extra={"event": "password_reset_failed"})
        raise ValidationError({"token": [RESET_LINK_INVALID]})
    password_validate(password=new_password, user=user, field="new_password")
    _password_set(user=user, new_password=new_password)
    audit.info("password reset", extra={"event": "password_reset", "user_id": user.pk})
