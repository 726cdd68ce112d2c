"""Alert rules: their writes, the one evaluation service every trigger calls, and the delivery of notifications.

Triggers (Celery beat, ``manage.py alerts_evaluate``, a write touching a KPI's metric) all call :func:`alerts_run`.
An evaluation reads each rule's KPI for its current period over its creator's visibility, with the summary's
selectors, and writes a transition only if the rule's ``revision`` is still the one it read (compare-and-set): two
evaluators at once never record, nor send, one transition twice, on PostgreSQL and SQLite alike. A transition is
recorded with its first delivery attempts in one transaction; every attempt is a row, and a failed one schedules
the next (exponential backoff), sent by a Celery task with a broker or by the next run without one.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from dashboard import query
from dashboard.models import KPI, AlertDelivery, AlertEvent, AlertRule
from dashboard.selectors import VIEW_ALL_METRICS, kpi_current_values, kpi_status
from dashboard.webhooks import UnsafeWebhookURL, webhook_body, webhook_post, webhook_signature, webhook_target_resolve

logger = logging.getLogger("dashboard.alerts")

ALERT_STATUSES = (KPI.Status.AT_RISK, KPI.Status.OFF_TRACK, KPI.Status.NO_DATA)
MAX_CHANNELS = 10
MAX_EMAIL_RECIPIENTS = 20
VIEW_KPI = "dashboard.view_kpi"
RULE_FIELDS = ("name", "kpi", "condition", "statuses", "threshold", "tz", "channels", "repeat_minutes", "muted_until")


class AlertQueue(Protocol):
    """How work reaches Celery workers; registered by ``dashboard.tasks`` (services never import tasks)."""

    def evaluate(self, *, metric_names: list[str] | None) -> None: ...

    def deliver(self, *, delivery_id: int, eta: datetime | None) -> None: ...


_queue: AlertQueue | None = None


def alerts_queue_register(queue: AlertQueue | None) -> None:
    global _queue
    _queue = queue


def alerts_queue() -> AlertQueue | None:
    """The Celery queue when a broker is configured, else ``None`` (work is done inline or by the next run)."""
    return _queue if settings.CELERY_BROKER_URL else None


# --- Rules ------------------------------------------------------------------------------------------------------


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _clean_channels(channels) -> list[dict]:
    if not isinstance(channels, list) or not channels:
        raise ValidationError({"channels": "At least one channel is required."})
    if len(channels) > MAX_CHANNELS:
        raise ValidationError({"channels": f"At most {MAX_CHANNELS} channels."})
    cleaned = []
    for index, channel in enumerate(channels):
        where = f"Channel {index + 1}"
        if not isinstance(channel, dict) or channel.get("type") not in ("email", "webhook"):
            raise ValidationError({"channels": f'{where}: "type" must be "email" or "webhook".'})
        if channel["type"] == "email":
            recipients = channel.get("to")
            if set(channel) - {"type", "to"}:
                raise ValidationError({"channels": f'{where}: an email channel has only "type" and "to".'})
            if not isinstance(recipients, list) or not recipients or len(recipients) > MAX_EMAIL_RECIPIENTS:
                raise ValidationError({"channels": f'{where}: "to" must list 1 to {MAX_EMAIL_RECIPIENTS} addresses.'})
            for address in recipients:
                try:
                    if not isinstance(address, str):
                        raise ValidationError("not a string")
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"channels": f"{where}: {address!r} is not an email address."}) from None
            cleaned.append({"type": "email", "to": list(recipients)})
        else:
            if set(channel) - {"type", "url"}:
                raise ValidationError({"channels": f'{where}: a webhook channel has only "type" and "url".'})
            try:
                webhook_target_resolve(channel.get("url"))
            except UnsafeWebhookURL as exc:
                raise ValidationError({"channels": f"{where}: {exc}"}) from None
            cleaned.append({"type": "webhook", "url": channel["url"]})
    return cleaned


def alert_rule_clean(fields: dict) -> dict:
    """Check a whole rule (every field in *fields*) and return it normalised; raises ``ValidationError`` by field."""
    fields = dict(fields)
    condition = fields.get("condition")
    if condition not in AlertRule.Condition.values:
        raise ValidationError({"condition": "Must be one of status, above, below."})
    if condition == AlertRule.Condition.STATUS:
        statuses = fields.get("statuses")
        if (
            not isinstance(statuses, list)
            or not statuses
            or any(not isinstance(s, str) or s not in ALERT_STATUSES for s in statuses)
        ):
            raise ValidationError({"statuses": f"A non-empty list of {', '.join(ALERT_STATUSES)}."})
        fields["statuses"] = sorted(set(statuses), key=ALERT_STATUSES.index)
        fields["threshold"] = None
    else:
        if fields.get("threshold") is None:
            raise ValidationError({"threshold": f'Required for the "{condition}" condition.'})
        fields["statuses"] = []
    fields["tz"] = str(fields.get("tz") or settings.TIME_ZONE)
    try:
        query.time_zone(fields["tz"])
    except ValueError as error:
        raise ValidationError({"tz": str(error)}) from None
    fields["channels"] = _clean_channels(fields.get("channels"))
    return fields


@dataclass(frozen=True)
class CreatedRule:
    rule: AlertRule
    webhook_secret: str


@transaction.atomic
def alert_rule_create(*, created_by: User, **fields) -> CreatedRule:
    fields = alert_rule_clean(fields)
    secret = _new_secret()
    rule = AlertRule.objects.create(created_by=created_by, webhook_secret=secret, **fields)
    return CreatedRule(rule=rule, webhook_secret=secret)


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, **changes) -> AlertRule:
    """Apply *changes* and check the rule as a whole. A changed KPI or condition is judged afresh at the next
    evaluation (its state is kept until then)."""
    current = {name: getattr(rule, name) for name in RULE_FIELDS}
    cleaned = alert_rule_clean({**current, **changes})
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.save(update_fields=[*RULE_FIELDS])
    return rule


def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()


def alert_rule_rotate_secret(*, rule: AlertRule) -> str:
    """A new signing secret, effective for every delivery from now on (retries included)."""
    rule.webhook_secret = _new_secret()
    rule.save(update_fields=["webhook_secret"])
    return rule.webhook_secret


# --- Evaluation -------------------------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What one run did: rules evaluated and skipped, transitions and repeats recorded, delivery attempts made."""

    evaluated: int = 0
    skipped: int = 0
    fired: int = 0
    resolved: int = 0
    repeated: int = 0
    deliveries: list[int] = field(default_factory=list)
    attempts: int = 0


def _payload(*, event: AlertEvent, rule: AlertRule, kpi: KPI) -> dict:
    return {
        "id": str(event.event_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "alert": {"id": rule.pk, "name": rule.name},
        "kpi": {"id": kpi.pk, "name": kpi.name, "unit": kpi.unit, "target": kpi.target, "direction": kpi.direction},
        "value": event.value,
        "status": event.status,
        "period_start": event.period_start.isoformat() if event.period_start else None,
    }


def _record_event(
    *, rule: AlertRule, type: str, value: float | None, status: str, period_start, notify: bool, now: datetime
) -> tuple[AlertEvent, list[AlertDelivery]]:
    """An event and, when it notifies, the first delivery attempt for each channel (due now). Call inside the
    transaction that records the rule's change."""
    event = AlertEvent(
        rule=rule, type=type, value=value, status=status, period_start=period_start, notified=notify, created_at=now
    )
    event.payload = _payload(event=event, rule=rule, kpi=rule.kpi)
    event.save()
    deliveries = []
    if notify:
        deliveries = AlertDelivery.objects.bulk_create(
            AlertDelivery(event=event, channel=channel["type"], destination=channel, attempt=1, scheduled_for=now)
            for channel in rule.channels
        )
    return event, deliveries


def _is_firing(rule: AlertRule, value: float | None, status: str) -> bool:
    if rule.condition == AlertRule.Condition.STATUS:
        return status in rule.statuses
    if value is None:
        return False
    return value > rule.threshold if rule.condition == AlertRule.Condition.ABOVE else value < rule.threshold


def _muted(rule: AlertRule, now: datetime) -> bool:
    return rule.muted_until is not None and rule.muted_until > now


def alert_rule_transition(
    *, rule: AlertRule, state: str, value: float | None, status: str, period_start, now: datetime
) -> tuple[AlertEvent, list[AlertDelivery]] | None:
    """Record *rule* moving to *state* (or, firing again, a repeat notification), unless another
    evaluator has written the rule since *rule* was read: then nothing is recorded and ``None`` is returned."""
    notify = not _muted(rule, now)
    with transaction.atomic():
        changes = {
            "state": state,
            "revision": F("revision") + 1,
            "last_value": value,
            "last_status": status,
            "last_evaluated_at": now,
            "evaluation_requested_at": None,
        }
        if notify:
            changes["last_notified_at"] = now
        won = AlertRule.objects.filter(pk=rule.pk, revision=rule.revision).update(**changes)
        if not won:
            return None
        rule.state, rule.revision = state, rule.revision + 1
        if notify:
            rule.last_notified_at = now
        event_type = AlertEvent.Type.FIRING if state == AlertRule.State.FIRING else AlertEvent.Type.RESOLVED
        return _record_event(
            rule=rule, type=event_type, value=value, status=status, period_start=period_start, notify=notify, now=now
        )


def _rules_to_evaluate(*, metric_names: Iterable[str] | None, rule_ids: Iterable[int] | None, requested_only: bool):
    rules = AlertRule.objects.select_related("kpi", "created_by").filter(created_by__is_active=True)
    if metric_names is not None:
        rules = rules.filter(kpi__metric_name__in=list(metric_names))
    if rule_ids is not None:
        rules = rules.filter(pk__in=list(rule_ids))
    if requested_only:
        rules = rules.filter(evaluation_requested_at__isnull=False)
    return list(rules.order_by("id"))


def alerts_evaluate(
    *,
    now: datetime | None = None,
    metric_names: Iterable[str] | None = None,
    rule_ids: Iterable[int] | None = None,
    requested_only: bool = False,
) -> RunOutcome:
    """Evaluate the rules of active creators (all, or those on KPIs of *metric_names*, or *rule_ids*) and record
    their transitions. Each rule sees its KPI's current period in its ``tz`` over its creator's visibility now; a
    creator who may no longer read KPIs (``view_kpi``) gets nothing evaluated. Queries: one for the rules, the
    creators' permissions, at most two per distinct (period, tz, visibility) — every creator with
    ``view_all_metrics`` shares one visibility — one to store the readings, and three per transition."""
    now = now or timezone.now()
    outcome = RunOutcome()
    rules = _rules_to_evaluate(metric_names=metric_names, rule_ids=rule_ids, requested_only=requested_only)
    groups: dict[tuple[object, str], list[AlertRule]] = defaultdict(list)
    readers: dict[object, User] = {}
    creators: dict[int, User] = {}
    for rule in rules:
        # One User object per creator, so its permissions are loaded once (Django caches them on the object).
        creator = creators.setdefault(rule.created_by_id, rule.created_by)
        if not creator.has_perm(VIEW_KPI):
            outcome.skipped += 1
            continue
        visibility = "all" if creator.has_perm(VIEW_ALL_METRICS) else creator.pk
        readers.setdefault(visibility, creator)
        groups[(visibility, rule.tz)].append(rule)

    readings: list[AlertRule] = []
    for (visibility, tz_name), members in groups.items():
        kpis = list({rule.kpi_id: rule.kpi for rule in members}.values())
        values = kpi_current_values(user=readers[visibility], kpis=kpis, tz=ZoneInfo(tz_name), now=now)
        for rule in members:
            period_start, value = values[rule.kpi_id]
            status = kpi_status(kpi=rule.kpi, current=value, previous=None)[2]
            outcome.evaluated += 1
            state = AlertRule.State.FIRING if _is_firing(rule, value, status) else AlertRule.State.OK
            repeat_due = (
                state == rule.state == AlertRule.State.FIRING
                and rule.repeat_minutes
                and not _muted(rule, now)
                and (
                    rule.last_notified_at is None
                    or now - rule.last_notified_at >= timedelta(minutes=rule.repeat_minutes)
                )
            )
            if state != rule.state or repeat_due:
                recorded = alert_rule_transition(
                    rule=rule, state=state, value=value, status=status, period_start=period_start, now=now
                )
                if recorded is not None:
                    if repeat_due:
                        outcome.repeated += 1
                    elif state == AlertRule.State.FIRING:
                        outcome.fired += 1
                    else:
                        outcome.resolved += 1
                    outcome.deliveries.extend(delivery.pk for delivery in recorded[1])
                continue
            rule.last_value, rule.last_status, rule.last_evaluated_at = value, status, now
            rule.evaluation_requested_at = None
            readings.append(rule)
    if readings:
        # Readings only: never the state, which only the compare-and-set above writes.
        AlertRule.objects.bulk_update(
            readings, ["last_value", "last_status", "last_evaluated_at", "evaluation_requested_at"], batch_size=500
        )
    return outcome


def alerts_run(
    *, now: datetime | None = None, metric_names: Iterable[str] | None = None, requested_only: bool = False
) -> RunOutcome:
    """The one entry point of every trigger: evaluate, then send the new notifications and every retry that is due
    (to Celery workers with a broker, inline without one)."""
    now = now or timezone.now()
    outcome = alerts_evaluate(now=now, metric_names=metric_names, requested_only=requested_only)
    due = set(outcome.deliveries) | set(
        AlertDelivery.objects.filter(scheduled_for__isnull=False, scheduled_for__lte=now).values_list("pk", flat=True)
    )
    queue = alerts_queue()
    for delivery_id in sorted(due):
        if queue is not None:
            queue.deliver(delivery_id=delivery_id, eta=None)
        elif alert_delivery_attempt(delivery_id=delivery_id, now=now) is not None:
            outcome.attempts += 1
    return outcome


def alerts_metrics_touched(*, names: Iterable[str] | None) -> None:
    """After the current transaction commits, have the rules on KPIs of these metric names (``None``: any)
    evaluated: queued to a worker with a broker; without one, marked for the next run with a single UPDATE, so
    a write never waits for an evaluation."""
    names = sorted(set(names)) if names is not None else None

    def touched() -> None:
        try:
            queue = alerts_queue()
            if queue is not None:
                queue.evaluate(metric_names=names)
                return
            _rules_mark_requested(names=names, now=timezone.now())
        except Exception as error:  # any outage of the broker or the database
            # The write has committed; the request must not fail, and an outage is one log line, not a traceback:
            # the next scheduled alerts_evaluate run evaluates every rule.
            logger.warning(
                "alert evaluation after a metric write not requested (%s: %s); the next scheduled run catches up",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )

    # robust as well: should logging itself fail, the committed write still answers.
    transaction.on_commit(touched, robust=True)


def _rules_mark_requested(*, names: list[str] | None, now: datetime) -> None:
    """``evaluation_requested_at = now`` on the unmarked rules whose KPI reads one of *names* (None: every rule).

    Written as SQL: it runs after every metric write without a broker, and the ORM's UPDATE-with-a-join cost about
    0.8 ms of CPU to build each time, more than the write it follows (bench/bench_api.py).
    """
    rules, kpis = AlertRule._meta.db_table, KPI._meta.db_table
    sql = f"UPDATE {rules} SET evaluation_requested_at = %s WHERE evaluation_requested_at IS NULL"  # noqa: S608
    params: list = [AlertRule._meta.get_field("evaluation_requested_at").get_db_prep_value(now, connection)]
    if names is not None:
        if not names:
            return
        placeholders = ", ".join(["%s"] * len(names))
        sql += f" AND kpi_id IN (SELECT id FROM {kpis} WHERE metric_name IN ({placeholders}))"  # noqa: S608
        params += names
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def alert_rule_test(*, rule: AlertRule, now: datetime | None = None) -> AlertEvent:
    """Send an ``alert.test`` event with the rule's last reading to every channel (queued with a broker, else its
    first attempts are made now; retries follow as for any event)."""
    now = now or timezone.now()
    with transaction.atomic():
        event, deliveries = _record_event(
            rule=rule,
            type=AlertEvent.Type.TEST,
            value=rule.last_value,
            status=rule.last_status,
            period_start=None,
            notify=True,
            now=now,
        )
    queue = alerts_queue()
    for delivery in deliveries:
        if queue is not None:
            queue.deliver(delivery_id=delivery.pk, eta=None)
        else:
            alert_delivery_attempt(delivery_id=delivery.pk, now=now)
    return event


# --- Delivery ---------------------------------------------------------------------------------------------------


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
    headline = {
        AlertEvent.Type.FIRING: f"Firing: {rule.name} — {kpi.name} is {status} ({value})",
        AlertEvent.Type.RESOLVED: f"Resolved: {rule.name} — {kpi.name} is {status} ({value})",
        AlertEvent.Type.TEST: f"Test: {rule.name} — {kpi.name}",
    }[event.type]
    what = {
        AlertEvent.Type.FIRING: f"The alert rule “{rule.name}” is firing: its condition ({condition}) holds.",
        AlertEvent.Type.RESOLVED: f"The alert rule “{rule.name}” is resolved: its condition ({condition}) no longer "
        "holds.",
        AlertEvent.Type.TEST: f"This is a test notification of the alert rule “{rule.name}” ({condition}).",
    }[event.type]
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
