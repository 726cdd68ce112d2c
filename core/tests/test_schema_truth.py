"""The OpenAPI schema says exactly what the server does: bounds, empty values, types, documented statuses."""

from http import HTTPStatus

import pytest
from django.conf import settings

from dashboard.tests.factories import MetricFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _parameter(schema, path, method, name):
    operation = schema["paths"][path.rstrip("/") + "/"][method]
    return next(p for p in operation["parameters"] if p["name"] == name)["schema"]


@pytest.fixture
def superuser_client(superuser, client_for):
    return client_for(superuser)


def test_bounds_in_the_schema_are_the_servers(schema, superuser_client):
    assert _parameter(schema, f"{API}/dashboard/metrics", "get", "limit")["minimum"] == 1
    assert _parameter(schema, f"{API}/dashboard/metrics", "get", "skip")["minimum"] == 0
    assert _parameter(schema, f"{API}/dashboard/metrics", "get", "owner")["minimum"] == 1
    assert superuser_client.get(f"{API}/dashboard/metrics", {"limit": 1}).status_code == HTTPStatus.OK
    assert superuser_client.get(f"{API}/dashboard/metrics", {"owner": 1}).status_code == HTTPStatus.OK
    for query in ({"limit": 0}, {"skip": -1}, {"owner": 0}):
        assert superuser_client.get(f"{API}/dashboard/metrics", query).status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/dashboard/metrics", "from"),
        ("/dashboard/metrics", "to"),
        ("/dashboard/metrics", "tz"),
        ("/dashboard/metrics", "limit"),
        ("/dashboard/metrics", "skip"),
        ("/dashboard/metrics", "owner"),
        ("/dashboard/metrics/names", "from"),
        ("/admin/users", "search"),
        ("/admin/users", "is_active"),
        ("/admin/users", "role"),
        ("/admin/api-keys", "active"),
        ("/dashboard/kpis", "limit"),
    ],
)
def test_an_empty_parameter_is_a_400_not_absent(superuser_client, path, parameter):
    response = superuser_client.get(f"{API}{path}?{parameter}=")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert parameter in response.json()["errors"]


def test_an_empty_multipart_timestamp_is_a_400_not_now(user_with_role, client_for):
    client = client_for(user_with_role("analyst"))
    response = client.post(f"{API}/dashboard/metrics", {"name": "m", "value": "1", "timestamp": ""}, format="multipart")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "timestamp" in response.json()["errors"]
    without = client.post(f"{API}/dashboard/metrics", {"name": "m", "value": "1"}, format="multipart")
    assert without.status_code == HTTPStatus.CREATED


@pytest.mark.parametrize("value", [0, 1.5, True, ["x"], {"x": 1}])
def test_text_fields_take_only_strings(api_client, user_client, value):
    body = {"email": "new@example.com", "password": "a-Strong-passphrase-42", "full_name": value}
    response = api_client.post(f"{API}/auth/register", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "full_name" in response.json()["errors"]
    patched = user_client.patch(f"{API}/users/me", {"full_name": value}, format="json")
    assert patched.status_code == HTTPStatus.BAD_REQUEST


def test_metric_names_take_only_strings(user_with_role, client_for):
    client = client_for(user_with_role("analyst"))
    response = client.post(f"{API}/dashboard/metrics", {"name": 0, "value": 1}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "name" in response.json()["errors"]


def test_the_register_schema_states_the_password_policy(schema):
    component = schema["components"]["schemas"]["RegisterInputRequest"]["properties"]["password"]
    assert component["minLength"] == settings.PASSWORD_MIN_LENGTH == 12
    assert "common" in component["description"]


def test_user_delete_documents_user_owns_data(schema, superuser_client, user):
    responses = schema["paths"][f"{API}/admin/users/{{id}}/"]["delete"]["responses"]
    assert "409" in responses
    assert "user_owns_data" in responses["409"]["description"]
    MetricFactory(owner=user)
    response = superuser_client.delete(f"{API}/admin/users/{user.pk}")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "user_owns_data"


def test_allow_duplicate_is_a_boolean(user_with_role, client_for):
    client = client_for(user_with_role("analyst"))
    response = client.post(f"{API}/dashboard/upload?allow_duplicate=maybe", {}, format="multipart")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "allow_duplicate" in response.json()["errors"]


def test_a_multipart_body_without_parts_is_a_parse_error_not_an_empty_patch(user_client):
    response = user_client.generic(
        "PATCH", f"{API}/users/me", b"--xyz--\r\n", content_type="multipart/form-data; boundary=xyz"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "parse_error"


def test_upload_documents_its_own_error_statuses(schema):
    responses = schema["paths"][f"{API}/dashboard/upload/"]["post"]["responses"]
    assert {"413", "415", "429"} <= set(responses)


def test_an_empty_form_value_is_validated_like_json_not_read_as_null(user_with_role, client_for):
    client = client_for(user_with_role("manager"))
    body = {"name": "Revenue", "metric_name": "revenue", "aggregation": "sum", "period": "month", "target": ""}
    for encoding in ("multipart", None):
        kwargs = {"format": "multipart"} if encoding else {"content_type": "application/x-www-form-urlencoded"}
        data = body if encoding else "&".join(f"{key}={value}" for key, value in body.items())
        response = client.post(f"{API}/dashboard/kpis", data, **kwargs)
        assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
        assert "target" in response.json()["errors"]
