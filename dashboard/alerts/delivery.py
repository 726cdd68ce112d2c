"""Alert delivery: one attempt at a time to an email address or a signed webhook (through the SSRF guard of
:mod:`dashboard.alerts.webhooks`), each attempt recorded, failed ones retried with exponential back-off."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule
from dashboard.alerts.queue import alerts_queue
from dashboard.alerts.webhooks import (
    UnsafeWebhookURL,
    webhook_body,
    webhook_post,
    webhook_signature,
    webhook_target_resolve,
)

logger = logging.getLogger("dashboard.alerts")


def alert_retry_delay(attempt: int) -> timedelta:
    """The wait after failed attempt number *attempt*: ``ALERTS_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)``."""
    return timedelta(seconds=settings.ALERTS_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1))


def staff_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _describe(event: AlertEvent, rule: AlertRule) -> tuple[str, str]:
    """Subject and body of an alert mail: what happened, the numbers, and links into the staff UI."""
    kpi = rule.kpi
    unit = f" {kpi.unit}" if kpi.unit else ""
    value = "no data" if event.value is None else f"{event.value:g}{unit}"
    status = (event.status or "unknown").replace("_", " ")
    if rule.condition == AlertRule.Condition.STATUS:
        condition = "status is " + " or ".join(s.replace("_", " ") for s in rule.statuses)
    else:
        condition = f"value {rule.condition} {rule.threshold:g}{unit}"
    headlines: dict[str, str] = {
        AlertEvent.Type.FIRING: f"Firing: {rule.name} — {kpi.name} is {status} ({value})",
        AlertEvent.Type.RESOLVED: f"Resolved: {rule.name} — {kpi.name} is {status} ({value})",
        AlertEvent.Type.TEST: f"Test: {rule.name} — {kpi.name}",
    }
    headline = headlines[event.type]
    explanations: dict[str, str] = {
        AlertEvent.Type.FIRING: f"The alert rule “{rule.name}” is firing: its condition ({condition}) holds.",
        AlertEvent.Type.RESOLVED: f"The alert rule “{rule.name}” is resolved: its condition ({condition}) no longer "
        "holds.",
        AlertEvent.Type.TEST: f"This is a test notification of the alert rule “{rule.name}” ({condition}).",
    }
    what = explanations[event.type]
    period = f"the period starting {event.period_start:%Y-%m-%d %H:%M %Z}" if event.period_start else "its last reading"
    target = "none" if kpi.target is None else f"{kpi.target:g}{unit}"
    body = "\n".join(
        [
            what,
            "",
            f"KPI: {kpi.name}",
            f"Value for {period}: {value}",
            f"Status: {status}",
            f"Target: {target} ({kpi.get_direction_display().lower()})",
            f"Event: {event.type} {event.event_id} at {event.created_at:%Y-%m-%d %H:%M:%S %Z}",
            "",
            f"KPI chart: {staff_url(f'/admin/dashboard/kpi/{kpi.pk}/chart/')}",
            f"Alert rule: {staff_url(f'/admin/dashboard/alertrule/{rule.pk}/events/')}",
        ]
    )
    return f"[{settings.PROJECT_NAME}] {headline}", body + "\n"


def _send_email(delivery: AlertDelivery, event: AlertEvent, rule: AlertRule) -> tuple[int | None, str]:
    subject, body = _describe(event, rule)
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, delivery.destination["to"]).send()
    except Exception as exc:  # SMTP and socket errors alike: recorded, retried
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    return None, ""


def _send_webhook(delivery: AlertDelivery, event: AlertEvent, rule: AlertRule) -> tuple[int | None, str]:
    try:
        target = webhook_target_resolve(delivery.destination["url"])
    except UnsafeWebhookURL as exc:
        return None, f"Refused: {exc}"
    body = webhook_body(event.payload)
    headers = {
        "Dashboard-Event-Id": str(event.event_id),
        "Dashboard-Signature": webhook_signature(secret=rule.webhook_secret, timestamp=int(time.time()), body=body),
    }
    try:
        status_code = webhook_post(target=target, body=body, headers=headers)
    except Exception as exc:  # timeouts, refused connections, TLS and protocol errors
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    if 200 <= status_code < 300:
        return status_code, ""
    if 300 <= status_code < 400:
        return status_code, f"HTTP {status_code}: redirects are not followed."
    return status_code, f"HTTP {status_code}."


def alert_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None, only_due: bool = True
) -> AlertDelivery | None:
    """Make one scheduled delivery attempt, unless someone else has claimed it (``None``). A failure schedules the
    next attempt, up to ``ALERTS_WEBHOOK_RETRIES`` retries; the caller's queue, if any, is told about it."""
    now = now or timezone.now()
    claim = AlertDelivery.objects.filter(pk=delivery_id, scheduled_for__isnull=False)
    if only_due:
        claim = claim.filter(scheduled_for__lte=now)
    if not claim.update(scheduled_for=None, attempted_at=now):
        return None
    delivery = AlertDelivery.objects.select_related("event__rule__kpi", "event__rule__created_by").get(pk=delivery_id)
    event = delivery.event
    rule = event.rule
    retry = True
    if not rule.created_by.is_active:
        status_code, error, retry = None, "Not sent: the rule's creator is deactivated.", False
    elif delivery.destination not in rule.channels:
        status_code, error, retry = None, "Not sent: the channel was removed from the rule.", False
    elif delivery.channel == AlertDelivery.Channel.EMAIL:
        status_code, error = _send_email(delivery, event, rule)
    else:
        status_code, error = _send_webhook(delivery, event, rule)
        retry = not error.startswith("Refused:")
    delivery.status_code, delivery.error, delivery.attempted_at = status_code, error, now
    if not error:
        delivery.delivered_at = timezone.now()
    delivery.save(update_fields=["status_code", "error", "delivered_at", "attempted_at"])
    if error:
        logger.warning(
            "alert delivery failed",
            extra={"event": "alert_delivery_failed", "delivery_id": delivery.pk, "attempt": delivery.attempt},
        )
        if retry and delivery.attempt <= settings.ALERTS_WEBHOOK_RETRIES:
            following = AlertDelivery.objects.create(
                event=event,
                channel=delivery.channel,
                destination=delivery.destination,
                attempt=delivery.attempt + 1,
                scheduled_for=now + alert_retry_delay(delivery.attempt),
            )
            queue = alerts_queue()
            if queue is not None:
                queue.deliver(delivery_id=following.pk, eta=following.scheduled_for)
    return delivery
