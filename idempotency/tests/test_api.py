"""Idempotency-Key on POST dashboard/metrics and dashboard/upload, through HTTP with real tokens and keys."""

import uuid
from datetime import timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test.client import encode_multipart
from django.utils import timezone

from accounts.tests.factories import api_key_client
from conftest import port_open
from dashboard.metrics.models import Metric
from dashboard.uploads.models import Upload
from idempotency.models import IdempotencyRecord
from idempotency.services import STALE_CLAIM_AFTER
from idempotency.tests import urls as probe_urls

if TYPE_CHECKING:
    from kombu.transport.redis import Channel as RedisChannel

pytestmark = pytest.mark.django_db

METRICS = "/api/v1/dashboard/metrics"
UPLOAD = "/api/v1/dashboard/upload"
PROBE = "/api/v1/_probe/idempotent"
CSV = b"name,value,timestamp\nm,1,2026-01-01\nm,2,2026-01-02\n"


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def client(analyst, client_for):
    return client_for(analyst)


def post_metrics(client, body, key=None, path=METRICS):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body, format="json", **headers)


def post_upload(client, content=CSV, key=None, name="m.csv", query=""):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(UPLOAD + query, {"file": SimpleUploadedFile(name, content)}, format="multipart", **headers)


def test_without_a_key_every_request_writes(client):
    for _ in range(2):
        assert post_metrics(client, {"name": "m", "value": 1}).status_code == HTTPStatus.CREATED
    assert Metric.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [{"name": "m", "value": 1}, [{"name": "m", "value": i, "timestamp": "2026-01-01T00:00:00Z"} for i in range(1000)]],
    ids=["one", "list-of-1000"],
)
def test_a_retry_replays_the_first_response_and_writes_nothing(client, body):
    first = post_metrics(client, body, key="retry-1")
    assert first.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in first
    written = Metric.objects.count()
    assert written == (len(body) if isinstance(body, list) else 1)
    again = post_metrics(client, body, key="retry-1")
    assert again.status_code == HTTPStatus.CREATED
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/json"
    assert again.content == first.content
    assert Metric.objects.count() == written


def test_the_trailing_slash_and_query_order_do_not_change_the_request(client):
    first = post_metrics(client, {"name": "m", "value": 1}, key="slash", path=METRICS + "?a=1&b=2")
    again = post_metrics(client, {"name": "m", "value": 1}, key="slash", path=METRICS + "/?b=2&a=1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Metric.objects.count() == 1


@pytest.mark.parametrize(
    ("second_body", "second_path"),
    [({"name": "m", "value": 2}, METRICS), ({"name": "m", "value": 1}, METRICS + "?x=1")],
    ids=["other-body", "other-query"],
)
def test_the_same_key_for_another_request_is_422(client, second_body, second_path):
    post_metrics(client, {"name": "m", "value": 1}, key="reused")
    response = post_metrics(client, second_body, key="reused", path=second_path)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "idempotency_key_reused"
    assert Metric.objects.count() == 1


def test_keys_are_scoped_per_caller_and_route(client, analyst, user_with_role, client_for):
    other = client_for(user_with_role("analyst"))
    assert post_metrics(client, {"name": "m", "value": 1}, key="k").status_code == HTTPStatus.CREATED
    assert post_metrics(other, {"name": "m", "value": 1}, key="k").status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in post_upload(client, key="k")
    assert Metric.objects.filter(upload__isnull=True).count() == 2
    assert Upload.objects.count() == 1


def test_an_api_key_shares_its_owners_scope(client, analyst):
    machine = api_key_client(analyst, ["dashboard.add_metric"])
    first = post_metrics(machine, {"name": "m", "value": 1}, key="cron-2026-01-01")
    again = post_metrics(client, {"name": "m", "value": 1}, key="cron-2026-01-01")
    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert again["Idempotent-Replayed"] == "true"
    assert Metric.objects.count() == 1


def test_a_validation_error_is_kept_like_any_response_under_500(client):
    bad = [{"name": "m", "value": 1}, {"name": "", "value": "x"}]
    first = post_metrics(client, bad, key="bad")
    assert first.status_code == HTTPStatus.BAD_REQUEST
    again = post_metrics(client, bad, key="bad")
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Metric.objects.count() == 0


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "caf\u00e9", "tab\there", "new\x7fline", "\u2603"],
    ids=["empty", "256-chars", "latin1", "control", "delete", "non-latin"],
)
def test_a_malformed_key_is_400(client, key):
    response = client.post(METRICS, {"name": "m", "value": 1}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"Idempotency-Key": ["Must be 1-255 printable ASCII characters."]}
    assert Metric.objects.count() == 0
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["x", "y" * 255, "a key with spaces and ~!@#$%^&*()"])
def test_keys_of_1_to_255_printable_characters_are_accepted(client, key):
    assert post_metrics(client, {"name": "m", "value": 1}, key=key).status_code == HTTPStatus.CREATED
    assert post_metrics(client, {"name": "m", "value": 1}, key=key)["Idempotent-Replayed"] == "true"


def test_an_expired_record_lets_the_key_run_again_and_is_purged(client, settings):
    post_metrics(client, {"name": "m", "value": 1}, key="old")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = post_metrics(client, {"name": "m", "value": 1}, key="old")
    assert again.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in again
    assert Metric.objects.count() == 2
    (record,) = IdempotencyRecord.objects.all()
    expected = record.created_at + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    assert record.expires_at == expected


def test_purge_command_deletes_expired_records_and_abandoned_claims(client, capsys):
    for key in ("keep", "expired", "abandoned"):
        post_metrics(client, {"name": "m", "value": 1}, key=key)
    IdempotencyRecord.objects.filter(key="expired").update(expires_at=timezone.now() - timedelta(seconds=1))
    IdempotencyRecord.objects.filter(key="abandoned").update(
        status_code=None, created_at=timezone.now() - STALE_CLAIM_AFTER - timedelta(seconds=1)
    )
    call_command("idempotency_purge")
    assert "Deleted 2 idempotency record(s)." in capsys.readouterr().out
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["keep"]


def test_a_claim_still_in_progress_is_409(client, analyst):
    IdempotencyRecord.objects.create(
        user=analyst,
        route="dashboard:metric-list",
        key="busy",
        fingerprint=_fingerprint_of(client, {"name": "m", "value": 1}),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    response = post_metrics(client, {"name": "m", "value": 1}, key="busy")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "idempotency_in_progress"
    assert Metric.objects.count() == 0


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(client, analyst):
    IdempotencyRecord.objects.create(
        user=analyst,
        route="dashboard:metric-list",
        key="dead",
        fingerprint="0" * 64,
        created_at=timezone.now() - STALE_CLAIM_AFTER - timedelta(seconds=1),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert post_metrics(client, {"name": "m", "value": 1}, key="dead").status_code == HTTPStatus.CREATED
    assert Metric.objects.count() == 1


def _fingerprint_of(client, body) -> str:
    """The fingerprint the server records for this request (read back from a throwaway key)."""
    post_metrics(client, body, key="probe-fingerprint")
    record = IdempotencyRecord.objects.get(key="probe-fingerprint")
    Metric.objects.all().delete()
    record.delete()
    return record.fingerprint


# --- Uploads -----------------------------------------------------------------------------------------------------


def test_an_upload_retry_replays_and_imports_once(client):
    first = post_upload(client, key="upload-1")
    assert first.status_code == HTTPStatus.CREATED
    again = post_upload(client, key="upload-1")
    assert again.status_code == HTTPStatus.CREATED
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Upload.objects.count() == 1
    assert Metric.objects.count() == 2


def test_an_upload_with_another_file_under_the_same_key_is_422(client):
    post_upload(client, key="upload-2")
    response = post_upload(client, content=CSV + b"m,3,2026-01-03\n", key="upload-2")
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "idempotency_key_reused"
    assert Upload.objects.count() == 1


def test_a_multipart_retry_with_another_boundary_is_the_same_request(client):
    def send(boundary):
        body = encode_multipart(boundary, {"file": SimpleUploadedFile("m.csv", CSV), "tz": "UTC"})
        return client.generic(
            "POST",
            UPLOAD,
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="boundary",
        )

    assert send("first-boundary-123").status_code == HTTPStatus.CREATED
    again = send("another-boundary-456")
    assert again["Idempotent-Replayed"] == "true"
    assert Upload.objects.count() == 1


def test_a_rejected_upload_is_kept_and_replayed(client):
    bad = b"name,value,timestamp\nm,oops,2026-01-01\n"
    first = post_upload(client, content=bad, key="bad-file")
    assert first.status_code == HTTPStatus.BAD_REQUEST
    again = post_upload(client, content=bad, key="bad-file")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Upload.objects.count() == 1


# --- Responses of 500 and more -----------------------------------------------------------------------------------


@pytest.mark.urls("idempotency.tests.urls")
@pytest.mark.parametrize("status", ["500", "503", "raise"])
def test_server_errors_are_not_kept_so_the_key_may_be_retried(client, status):
    probe_urls.CALLS.clear()
    failed = client.post(f"{PROBE}?status={status}", {}, format="json", HTTP_IDEMPOTENCY_KEY="flaky")
    assert failed.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR
    assert not IdempotencyRecord.objects.exists()
    retried = client.post(f"{PROBE}?status={status}", {}, format="json", HTTP_IDEMPOTENCY_KEY="flaky")
    assert retried.status_code == failed.status_code
    assert len(probe_urls.CALLS) == 2


@pytest.mark.urls("idempotency.tests.urls")
@pytest.mark.parametrize("status", ["200", "201", "202", "404", "409", "499"])
def test_responses_under_500_are_kept(client, status):
    probe_urls.CALLS.clear()
    first = client.post(f"{PROBE}?status={status}", {}, format="json", HTTP_IDEMPOTENCY_KEY="kept")
    again = client.post(f"{PROBE}?status={status}", {}, format="json", HTTP_IDEMPOTENCY_KEY="kept")
    assert first.status_code == again.status_code == int(status)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() == {"calls": 1}
    assert len(probe_urls.CALLS) == 1


def test_the_schema_documents_the_header_and_its_errors(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/dashboard/metrics", "/api/v1/dashboard/upload"):
        operation = schema["paths"].get(path) or schema["paths"][path + "/"]
        post = operation["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
        assert {"409", "422"} <= set(post["responses"])
        assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]


@pytest.fixture
def upload_queue(settings, require_service):
    """Uploads of any size are queued to a queue of this test's own on the local Redis (no worker consumes it)."""
    from config.celery import app as celery_app

    require_service("Redis", port_open("127.0.0.1", 6379))
    queue = f"idempotency-test-{uuid.uuid4().hex[:10]}"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/14"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.UPLOAD_ASYNC_MIN_BYTES = 1
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as broker:
        channel = cast("RedisChannel", broker.default_channel)  # a redis:// broker
        redis = channel.client
        try:
            yield lambda: redis.llen(queue)
        finally:
            # keyprefix_binding_permanent is newer than celery-types' kombu stubs.
            binding_key = channel.keyprefix_binding_permanent % queue  # type: ignore[attr-defined]  # see above
            redis.delete(queue, channel.keyprefix_queue % queue, binding_key)


def test_a_queued_upload_retry_replays_the_202_and_queues_once(
    client, upload_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_upload(client, key="queued")
    assert first.status_code == HTTPStatus.ACCEPTED
    assert upload_queue() == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = post_upload(client, key="queued")
    assert again.status_code == HTTPStatus.ACCEPTED
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert upload_queue() == 1
    assert Upload.objects.count() == 1


def test_celery_beat_purges_hourly(client, settings):
    from idempotency.tasks import idempotency_purge_task

    entry = settings.CELERY_BEAT_SCHEDULE["idempotency-purge"]
    assert (entry["task"], entry["schedule"]) == (idempotency_purge_task.name, 3600.0)
    post_metrics(client, {"name": "m", "value": 1}, key="stale")
    post_metrics(client, {"name": "m", "value": 1}, key="fresh")
    IdempotencyRecord.objects.filter(key="stale").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_purge_task() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
