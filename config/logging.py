"""Logging plumbing: the request id on every record, console and JSON formatters, token redaction."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Defence in depth: JWTs, API keys and Authorization values must never reach a log even if some code logs them.
_SECRET_PATTERNS = [
    # API keys keep their public prefix (which key it was), never their secret.
    (re.compile(r"(dsh_[0-9a-f]{12})_[A-Za-z0-9_-]+"), r"\1_[redacted]"),
    (re.compile(r"dsh_(?![0-9a-f]{12}_\[redacted\])[A-Za-z0-9_-]{4,}"), "dsh_[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)(\"?(?:password|new_password|current_password|token|refresh|access|key)\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,}]+)"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(bcrypt_sha256|pbkdf2_sha256)\$[^\s\"',]+"), "[redacted-hash]"),
]


def redact(text: str) -> str:
    """Return *text* with anything that looks like a token, password field or password hash masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    """Attach the current request id (or '-') to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value if isinstance(value, (int, float, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))
