"""Health and readiness probes, the OpenAPI schema, and start-up behaviour of the settings."""

import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.management import call_command

REPO = Path(__file__).resolve().parents[2]


def run_django(code: str, env_overrides: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run *code* in a fresh interpreter with config.settings and only the given environment on top of PATH."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CACHE_DIR": str(tmp_path / "cache"),
        **env_overrides,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


READYZ_PROBE = (
    f"import sys; sys.path.insert(0, {str(REPO)!r}); import django; django.setup();"
    "from django.test import Client;"
    "r = Client().get('/readyz', HTTP_HOST='localhost'); print(r.status_code); print(r.content.decode())"
)


def test_healthz_answers_without_the_database(client):
    # No django_db mark: pytest-django's blocker turns any database access into an error here.
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_is_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "ok"


def test_readyz_503_when_database_is_unreachable(tmp_path):
    result = run_django(
        READYZ_PROBE,
        {"DEBUG": "true", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing"},
        tmp_path,
    )
    status, body = result.stdout.splitlines()[:2]
    assert status == "503", result.stderr
    assert '"failed": "database"' in body


def test_readyz_503_when_migrations_are_unapplied(tmp_path):
    result = run_django(READYZ_PROBE, {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}, tmp_path)
    status, body = result.stdout.splitlines()[:2]
    assert status == "503", result.stderr
    assert '"failed": "migrations"' in body
    assert "unapplied" in body


@pytest.mark.django_db
def test_openapi_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/users/me" in (tmp_path / "schema.yaml").read_text()


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == HTTPStatus.OK
    docs = client.get("/api/docs/")
    assert docs.status_code == HTTPStatus.OK
    html = docs.content.decode()
    assert "<style>" not in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("secret", [None, "", "change-me", "django-insecure-abc"])
def test_missing_or_placeholder_secret_stops_startup_with_debug_off(tmp_path, secret):
    env = {"DEBUG": "false", "ALLOWED_HOSTS": "example.com"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = run_django(f"import sys; sys.path.insert(0, {str(REPO)!r}); import django; django.setup()", env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is missing or a placeholder" in result.stderr


def test_check_deploy_is_clean_with_production_defaults(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": "x8Kq2-" + "Zr7pL0vWm3N" * 5,
        "ALLOWED_HOSTS": "dashboard.example.com",
        "CACHE_DIR": str(tmp_path / "cache"),
        "EMAIL_URL": "smtp+tls://mailer:secret@mail.example.com:587",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_a_mail_backend_that_prints_or_drops_mail(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": "x8Kq2-" + "Zr7pL0vWm3N" * 5,
        "ALLOWED_HOSTS": "dashboard.example.com",
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    for email_url in ("", "consolemail://", "memorymail://"):
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy"],
            cwd=REPO,
            env={**env, "EMAIL_URL": email_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode != 0, email_url
        assert "accounts.E001" in result.stderr + result.stdout, email_url


@pytest.mark.django_db
def test_schema_documents_the_error_envelope_and_list_bodies(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert set(schema["components"]["schemas"]["ErrorEnvelope"]["required"]) == {"detail", "code"}
    detail = schema["paths"]["/api/v1/dashboard/metrics/{id}/"]["patch"]["responses"]
    assert {"400", "401", "403", "404"} <= set(detail)
    login = schema["paths"]["/api/v1/auth/login/"]["post"]["responses"]
    assert {"401", "429"} <= set(login)
    create = schema["components"]["schemas"]["MetricCreateRequest"]["oneOf"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/MetricInputRequest"}} in create
