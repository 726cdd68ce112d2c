"""Alert evaluation: which state each rule is in for its KPI's current value, the transitions (compare-and-set on
the rule's revision), the events they record, and the requests for evaluation that metric writes leave."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from dashboard.alerts.delivery import alert_delivery_attempt
from dashboard.alerts.models import AlertDelivery, AlertEvent, AlertRule
from dashboard.alerts.queue import alerts_queue
from dashboard.kpis.models import KPI
from dashboard.kpis.selectors import kpi_current_values
from dashboard.metrics.selectors import VIEW_ALL_METRICS

VIEW_KPI = "dashboard.view_kpi"

logger = logging.getLogger("dashboard.alerts")


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
    threshold = rule.threshold
    assert threshold is not None, "alert_rule_clean requires a threshold for the above and below conditions"
    return value > threshold if rule.condition == AlertRule.Condition.ABOVE else value < threshold


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
    readings: list[AlertRule] = []
    for reader, tz_name, members in _reader_groups(rules, outcome):
        kpis = list({rule.kpi_id: rule.kpi for rule in members}.values())
        values = kpi_current_values(user=reader, kpis=kpis, tz=ZoneInfo(tz_name), now=now)
        for rule in members:
            period_start, value = values[rule.kpi_id]
            outcome.evaluated += 1
            if not _evaluate_rule(rule, value=value, period_start=period_start, now=now, outcome=outcome):
                readings.append(rule)
    if readings:
        # Readings only: never the state, which only the compare-and-set of a transition writes.
        AlertRule.objects.bulk_update(
            readings, ["last_value", "last_status", "last_evaluated_at", "evaluation_requested_at"], batch_size=500
        )
    return outcome


def _reader_groups(rules: list[AlertRule], outcome: RunOutcome) -> list[tuple[User, str, list[AlertRule]]]:
    """``(reader, tz, rules)``: the rules read together, one group per visibility and zone (every creator with
    ``view_all_metrics`` shares one visibility); rules of creators without ``view_kpi`` are skipped."""
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
    return [(readers[visibility], tz_name, members) for (visibility, tz_name), members in groups.items()]


def _repeat_due(rule: AlertRule, state: str, now: datetime) -> bool:
    """Whether a rule still firing owes its repeat notification (``repeat_minutes`` since the last one, unmuted)."""
    return bool(
        state == rule.state == AlertRule.State.FIRING
        and rule.repeat_minutes
        and not _muted(rule, now)
        and (rule.last_notified_at is None or now - rule.last_notified_at >= timedelta(minutes=rule.repeat_minutes))
    )


def _evaluate_rule(rule: AlertRule, *, value: float | None, period_start, now: datetime, outcome: RunOutcome) -> bool:
    """Judge *rule* on its KPI's current *value*: record its transition or repeat (True, counted in *outcome*), or
    keep the reading on *rule* for the caller to store (False)."""
    status = rule.kpi.reading(current=value, previous=None).status
    state = AlertRule.State.FIRING if _is_firing(rule, value, status) else AlertRule.State.OK
    repeat_due = _repeat_due(rule, state, now)
    if state == rule.state and not repeat_due:
        rule.last_value, rule.last_status, rule.last_evaluated_at = value, status, now
        rule.evaluation_requested_at = None
        return False
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
    return True


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
