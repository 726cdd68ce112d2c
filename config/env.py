"""Helpers that turn environment variables into Django settings values."""

from __future__ import annotations

from pathlib import Path

import environ

PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        "please-change-me",
        "replace-me",
        "your-secret-key",
    }
)


class SettingsError(Exception):
    """Raised when the environment cannot produce a safe configuration."""


def is_placeholder_secret(value: str | None) -> bool:
    """True when *value* is missing, a known placeholder, or Django's insecure dev prefix."""
    if value is None:
        return True
    stripped = value.strip()
    return stripped.lower() in PLACEHOLDER_SECRET_KEYS or stripped.startswith("django-insecure")


def database_config(env: environ.Env, base_dir: Path) -> dict:
    """Pick the database: DATABASE_URL, else POSTGRES_* when POSTGRES_HOST is set, else a SQLite file."""
    if env.str("DATABASE_URL", default=""):
        config = env.db_url("DATABASE_URL")
        if config["ENGINE"] == "django.db.backends.sqlite3" and config["NAME"] not in ("", ":memory:"):
            # An explicit SQLite file gets a file test database too, so other processes (a worker) can open it.
            config.setdefault("TEST", {"NAME": str(Path(config["NAME"]).with_suffix("")) + "_test.sqlite3"})
    elif env.str("POSTGRES_HOST", default=""):
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": env.str("POSTGRES_HOST"),
            "PORT": env.str("POSTGRES_PORT", default="5432"),
            "NAME": env.str("POSTGRES_DB", default="dashboard"),
            "USER": env.str("POSTGRES_USER", default="postgres"),
            "PASSWORD": env.str("POSTGRES_PASSWORD", default=""),
        }
    else:
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base_dir / "db.sqlite3"),
        }
    return _connection_defaults(env, config)


def replica_database_config(env: environ.Env) -> dict | None:
    """``DATABASE_REPLICA_URL``: a read replica of the primary (same schema, read-only), or None when unset.

    Under tests it mirrors the primary's test database (no second test database is created)."""
    if not env.str("DATABASE_REPLICA_URL", default=""):
        return None
    config = _connection_defaults(env, env.db_url("DATABASE_REPLICA_URL"))
    config["TEST"] = {"MIRROR": "default"}
    return config


def _connection_defaults(env: environ.Env, config: dict) -> dict:
    config.setdefault("ATOMIC_REQUESTS", False)
    if config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        config.setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
    return config


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """Parse ``HTTP_X_FORWARDED_PROTO,https`` into Django's SECURE_PROXY_SSL_HEADER tuple."""
    if not value.strip():
        return None
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 2 or not all(parts):
        raise SettingsError("SECURE_PROXY_SSL_HEADER must look like 'HTTP_X_FORWARDED_PROTO,https'.")
    return parts[0], parts[1]
