"""What app developers read: the guide in the repo, Swagger's tags and summaries, the API index, the admin's links."""

import re
from http import HTTPStatus
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TAGS = ["auth", "users", "admin", "metrics", "kpis", "uploads", "alerts", "boards", "system"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def test_the_guide_lives_in_the_repo_is_served_and_linked(client, schema):
    guide = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    for topic in ("auth/refresh", "logout", "401", "token_not_valid", "skip", "tz", "Idempotency-Key", "dsh_", "curl"):
        assert topic in guide, topic
    response = client.get("/api/guide/")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == guide
    assert "/api/guide/" in schema["info"]["description"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/api.md)" in readme


def test_nothing_in_the_repo_points_outside_it():
    tracked = [*REPO.glob("*.md"), *REPO.glob("docs/*.md")]
    for path in tracked:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


def test_every_operation_has_one_known_tag_and_a_one_line_summary(schema):
    assert [tag["name"] for tag in schema["tags"]] == TAGS
    for method, path, operation in _operations(schema):
        assert len(operation["tags"]) == 1, (method, path)
        assert operation["tags"][0] in TAGS, (method, path)
        summary = operation.get("summary", "")
        assert summary, (method, path)
        assert "\n" not in summary, (method, path)
        assert len(summary) <= 80, (method, path)


def test_no_maintainers_docstring_leaks_into_the_schema(schema):
    text = str(schema)
    assert "Base of the unauthenticated" not in text
    assert "Metrics the caller may see; writes only to one's own." not in text  # a view class's docstring


def test_tags_follow_the_paths(schema):
    tags = {(method, path): operation["tags"][0] for method, path, operation in _operations(schema)}
    assert tags[("post", "/api/v1/auth/login/")] == "auth"
    assert tags[("get", "/api/v1/users/me/")] == "users"
    assert tags[("get", "/api/v1/admin/users/")] == "admin"
    assert tags[("get", "/api/v1/dashboard/metrics/series/")] == "metrics"
    assert tags[("get", "/api/v1/dashboard/summary/")] == "kpis"
    assert tags[("post", "/api/v1/dashboard/upload/")] == "uploads"
    assert tags[("get", "/api/v1/dashboard/alerts/")] == "alerts"
    assert tags[("get", "/api/v1/")] == "system"


def test_authorize_dialog_says_how_to_get_a_token(schema):
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert "POST /api/v1/auth/login" in scheme["description"]
    assert "`access`" in scheme["description"]


def test_series_has_its_own_description(schema):
    series = schema["paths"]["/api/v1/dashboard/metrics/series/"]["get"]["description"]
    metrics = schema["paths"]["/api/v1/dashboard/metrics/"]["get"].get("description", "")
    assert "bucket" in series
    assert series != metrics


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("RegisterInputRequest", "password"),
        ("PasswordChangeInputRequest", "new_password"),
        ("PasswordResetConfirmInputRequest", "new_password"),
        ("AdminUserInputRequest", "password"),
    ],
)
def test_request_schemas_state_the_password_policy(schema, settings, component, field):
    prop = schema["components"]["schemas"][component]["properties"][field]
    assert prop["minLength"] == settings.PASSWORD_MIN_LENGTH
    assert f"at least {settings.PASSWORD_MIN_LENGTH} characters" in prop["description"]
    assert "entirely numeric" in prop["description"]


def test_api_root_answers_an_index(client):
    for path in ("/api/v1/", "/api/v1"):
        response = client.get(path)
        assert response.status_code == HTTPStatus.OK
        body = response.json()
        assert body["guide"].endswith("/api/guide/")
        assert body["docs"].endswith("/api/docs/")
        assert body["auth"]["login"].endswith("/api/v1/auth/login")
        assert body["dashboard"]["summary"].endswith("/api/v1/dashboard/summary")
    assert client.post("/api/v1/").json()["code"] == "method_not_allowed"


def test_admin_view_site_goes_to_the_api_docs_and_the_index_has_one_dashboard_heading(client, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x" * 16)
    client.force_login(admin)
    html = client.get("/admin/").content.decode()
    assert re.search(r'<a href="/api/docs/">View site</a>', html)
    assert client.get("/api/docs/").status_code == HTTPStatus.OK
    headings = re.findall(r"<(?:h1|h2|caption)[^>]*>(.*?)</(?:h1|h2|caption)>", html, re.S)
    texts = [re.sub(r"<[^>]+>", "", heading).strip() for heading in headings]
    assert "Accounts" in texts
    assert sum("Dashboard" in text for text in texts) == 1, texts
