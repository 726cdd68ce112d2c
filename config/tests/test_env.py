"""Database selection and the other environment parsers."""

from pathlib import Path

import environ
import pytest

from config.env import SettingsError, database_config, is_placeholder_secret, proxy_ssl_header

BASE = Path("/srv/app")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_database_url_wins(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:6543/metrics")
    clean_env.setenv("POSTGRES_HOST", "ignored.example")
    config = database_config(environ.Env(), BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == ("db.internal", 6543, "metrics", "app")


def test_postgres_variables_when_host_is_set(clean_env):
    clean_env.setenv("POSTGRES_HOST", "pg.local")
    clean_env.setenv("POSTGRES_PORT", "5433")
    clean_env.setenv("POSTGRES_DB", "dash")
    clean_env.setenv("POSTGRES_USER", "dash_user")
    clean_env.setenv("POSTGRES_PASSWORD", "s3cret")
    config = database_config(environ.Env(), BASE)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "pg.local",
        "5433",
        "dash",
        "dash_user",
        "s3cret",
    )


def test_sqlite_file_when_nothing_is_set(clean_env):
    config = database_config(environ.Env(), BASE)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(BASE / "db.sqlite3")


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [(None, True), ("", True), ("change-me", True), ("django-insecure-xyz", True), ("k3J9-real-random-value", False)],
)
def test_placeholder_secret_detection(value, placeholder):
    assert is_placeholder_secret(value) is placeholder


def test_proxy_ssl_header_parsing():
    assert proxy_ssl_header("HTTP_X_FORWARDED_PROTO,https") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("") is None
    with pytest.raises(SettingsError):
        proxy_ssl_header("HTTP_X_FORWARDED_PROTO")


CONTRACT_VARIABLES = """
DEBUG SECRET_KEY ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS CORS_ALLOWED_ORIGINS DATABASE_URL POSTGRES_HOST POSTGRES_PORT
POSTGRES_DB POSTGRES_USER POSTGRES_PASSWORD PROJECT_NAME VERSION TIME_ZONE SECURE_SSL_REDIRECT SECURE_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD SECURE_PROXY_SSL_HEADER NUM_PROXIES FRONTEND_URL LOG_LEVEL LOG_FORMAT
REDIS_URL CELERY_BROKER_URL EMAIL_URL DEFAULT_FROM_EMAIL JWT_SIGNING_KEY ACCESS_TOKEN_LIFETIME_MINUTES
REFRESH_TOKEN_LIFETIME_DAYS REGISTRATION_OPEN DEFAULT_ROLE PASSWORD_MIN_LENGTH THROTTLE_LOGIN THROTTLE_REGISTER
THROTTLE_REFRESH THROTTLE_PASSWORD UPLOAD_MAX_BYTES UPLOAD_ASYNC_MIN_BYTES UPLOAD_RETENTION_DAYS
ADMIN_REQUIRE_MFA
ALERTS_INTERVAL_SECONDS ALERTS_WEBHOOK_RETRIES ALERTS_WEBHOOK_ALLOWED_HOSTS
""".split()
CONTRACT_VARIABLES += ["THROTTLE_API_KEY", "IDEMPOTENCY_TTL_HOURS"]  # API keys, idempotent writes


def test_env_example_lists_every_contract_variable():
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    listed = {line.lstrip("# ").split("=", 1)[0] for line in text.splitlines() if "=" in line}
    assert set(CONTRACT_VARIABLES) <= listed


def test_settings_read_every_contract_variable():
    source = (Path(__file__).resolve().parents[1] / "settings.py").read_text() + (
        Path(__file__).resolve().parents[1] / "env.py"
    ).read_text()
    missing = [name for name in CONTRACT_VARIABLES if f'"{name}"' not in source]
    assert missing == []


def test_sqlite_url_gets_a_file_test_database(clean_env):
    clean_env.setenv("DATABASE_URL", "sqlite:////srv/app/var/ci.sqlite3")
    config = database_config(environ.Env(), BASE)
    assert config["NAME"] == "/srv/app/var/ci.sqlite3"
    assert config["TEST"]["NAME"] == "/srv/app/var/ci_test.sqlite3"


def test_project_cache_is_shared_between_processes():
    """Throttle counts must be seen by every server process: Redis or a file cache, never per-process memory."""
    from config import settings as project_settings

    backend = project_settings.CACHES["default"]["BACKEND"]
    assert backend in {
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    }
