"""Security headers, CORS, request ids and the HTTPS redirect."""

from http import HTTPStatus

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "same-origin",
}


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/nowhere", "/admin/login/", "/api/docs/", "/healthz"])
def test_security_headers_on_every_kind_of_response(client, path):
    response = client.get(path)
    for header, value in SECURITY_HEADERS.items():
        assert response[header] == value, header
    directives = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "default-src 'self'" in directives
    assert not any("unsafe-inline" in d or "unsafe-eval" in d for d in directives)


def test_cors_preflight_from_allowed_origin_with_authorization(client):
    response = client.options(
        "/api/v1/users/me",
        HTTP_ORIGIN="http://spa.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == HTTPStatus.OK
    assert response["Access-Control-Allow-Origin"] == "http://spa.example.com"
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()


def test_cors_exposes_headers_the_app_needs(client):
    response = client.get("/api/v1/users/me", HTTP_ORIGIN="http://spa.example.com")
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "retry-after", "content-disposition"} <= exposed


def test_cors_other_origin_gets_no_allow_origin(client):
    response = client.options(
        "/api/v1/users/me",
        HTTP_ORIGIN="http://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert "Access-Control-Allow-Origin" not in response


def test_cors_only_under_api(client):
    response = client.get("/healthz", HTTP_ORIGIN="http://spa.example.com")
    assert "Access-Control-Allow-Origin" not in response


def test_request_id_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("incoming", [None, "bad id with spaces", "x" * 500])
def test_request_id_is_generated_when_missing_or_unsafe(client, incoming):
    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming else {}
    response = client.get("/healthz", **headers)
    generated = response["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32


def test_https_redirect_exempts_probes(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/api/v1/users/me").status_code == HTTPStatus.MOVED_PERMANENTLY
    assert client.get("/admin/login/")["Location"].startswith("https://")
    assert client.get("/healthz").status_code == HTTPStatus.OK
    assert client.get("/readyz/").status_code == HTTPStatus.OK


def test_proxy_ssl_header_is_honoured(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    response = client.get("/api/v1/users/me", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
