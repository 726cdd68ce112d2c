"""Alert rules: their validation (conditions, channels, time zones, webhook URLs), creation, change, deletion and
secret rotation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User
from dashboard import time_input
from dashboard.alerts.models import AlertRule
from dashboard.alerts.webhooks import (
    UnsafeWebhookURL,
    webhook_target_resolve,
)
from dashboard.kpis.models import KPI

ALERT_STATUSES = (KPI.Status.AT_RISK, KPI.Status.OFF_TRACK, KPI.Status.NO_DATA)


MAX_CHANNELS = 10


MAX_EMAIL_RECIPIENTS = 20


RULE_FIELDS = ("name", "kpi", "condition", "statuses", "threshold", "tz", "channels", "repeat_minutes", "muted_until")


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
        time_input.time_zone(fields["tz"])
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
