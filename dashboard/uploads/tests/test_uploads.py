"""Metric uploads through HTTP: the bad-input corpus, all-or-nothing imports, records, duplicates, deletion."""

import hashlib
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.metrics.models import Metric
from dashboard.tests.factories import MetricFactory, UploadFactory
from dashboard.uploads.models import Upload

pytestmark = pytest.mark.django_db

UPLOAD = "/api/v1/dashboard/upload"
UPLOADS = "/api/v1/dashboard/uploads"
CORPUS = Path(__file__).parent / "upload_corpus"

# file -> (status, code, substring of detail or of the first row error, rows imported)
CORPUS_OUTCOMES = {
    "empty.csv": (400, "invalid_file", "empty", 0),
    "whitespace_only.csv": (400, "invalid_file", "empty", 0),
    "header_only.csv": (400, "invalid_file", "no data rows", 0),
    "binary.csv": (400, "invalid_file", "binary", 0),
    "nul_in_text.csv": (400, "invalid_file", "binary", 0),
    "utf16.csv": (400, "invalid_file", "UTF-16", 0),
    "xlsx_renamed.csv": (415, "unsupported_media_type", "zip", 0),
    "no_header.csv": (400, "invalid_file", "header", 0),
    "wrong_header.csv": (400, "invalid_file", "missing: name, value, timestamp", 0),
    "missing_column.csv": (400, "invalid_file", "missing: timestamp", 0),
    "duplicate_header.csv": (400, "invalid_file", "more than once: value", 0),
    "extra_column.csv": (400, "invalid_file", "'unit'", 0),
    "html_page.csv": (400, "invalid_file", "header", 0),
    "json_body.csv": (400, "invalid_file", "header", 0),
    "latin1.csv": (400, "invalid_file", "not UTF-8", 0),
    "latin1_late.csv": (400, "invalid_file", "not UTF-8", 0),
    "unbalanced_quotes.csv": (400, "invalid_rows", "Malformed CSV", 0),
    "mixed_delimiters.csv": (400, "invalid_rows", "Expected 3 fields, found 1", 0),
    "nan_infinity.csv": (400, "invalid_rows", "Not a finite number: 'NaN'", 0),
    "non_numeric.csv": (400, "invalid_rows", "Not a finite number: 'twelve'", 0),
    "empty_names.csv": (400, "invalid_rows", "The name is empty", 0),
    "long_name.csv": (400, "invalid_rows", "longer than 255", 0),
    "impossible_dates.csv": (400, "invalid_rows", "'2026-02-30'", 0),
    "out_of_range_dates.csv": (400, "invalid_rows", "Out of range", 0),
    "missing_fields.csv": (400, "invalid_rows", "Expected 3 fields, found 2", 0),
    "one_bad_among_many.csv": (400, "invalid_rows", "'oops'", 0),
    "many_errors.csv": (400, "invalid_rows", "Not a finite number: 'bad'", 0),
    "formula_name.csv": (201, None, None, 2),
    "semicolon_bom_crlf.csv": (201, None, None, 2),
    "tab_reordered.csv": (201, None, None, 2),
    "quoted_multiline.csv": (201, None, None, 2),
    "blank_lines_and_spaces.csv": (201, None, None, 1),
}


@pytest.fixture
def analyst(user_with_role):
    return user_with_role("analyst")


@pytest.fixture
def analyst_client(analyst, client_for):
    return client_for(analyst)


def upload(client, name: str, content: bytes, query: str = "", **form):
    return client.post(f"{UPLOAD}{query}", {"file": SimpleUploadedFile(name, content), **form}, format="multipart")


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(CORPUS_OUTCOMES)
    assert len(CORPUS_OUTCOMES) >= 25


@pytest.mark.parametrize("filename", sorted(CORPUS_OUTCOMES))
def test_corpus_file_outcome(analyst_client, filename):
    status, code, message, imported = CORPUS_OUTCOMES[filename]
    response = upload(analyst_client, filename, (CORPUS / filename).read_bytes())
    body = response.json()
    assert response.status_code == status, body
    assert Metric.objects.count() == imported
    if code is None:
        assert body["status"] == "succeeded"
        assert body["rows_imported"] == imported
        return
    assert body["code"] == code
    if code == "invalid_rows":
        assert message in body["errors"][0]["message"]
        assert body["upload"]["status"] == "failed"
        assert body["upload"]["rows_imported"] == 0
    else:
        assert message in body["detail"]


def test_row_errors_use_spreadsheet_row_numbers_and_are_capped(analyst_client):
    response = upload(analyst_client, "many.csv", (CORPUS / "many_errors.csv").read_bytes())
    body = response.json()
    assert body["error_count"] == 150
    assert len(body["errors"]) == 100
    assert body["errors"][0] == {"row": 2, "column": "value", "message": "Not a finite number: 'bad'."}
    assert body["errors"][99]["row"] == 101
    failed = Upload.objects.get()
    assert (failed.status, failed.error_count, failed.rows_total) == ("failed", 150, 150)


def test_one_bad_row_imports_nothing_and_reports_its_row(analyst_client):
    body = upload(analyst_client, "one.csv", (CORPUS / "one_bad_among_many.csv").read_bytes()).json()
    assert body["errors"] == [{"row": 1001, "column": "value", "message": "Not a finite number: 'oops'."}]
    assert body["error_count"] == 1
    assert not Metric.objects.exists()


def test_successful_upload_record(analyst, analyst_client):
    content = b"Timestamp;Name;Value\n2026-01-01;visits;3\n2026-01-02T12:00:00+02:00;visits;4.5\n"
    response = upload(analyst_client, "../../etc/visits.csv", content)
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["filename"] == "visits.csv"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert (body["status"], body["rows_total"], body["rows_imported"], body["error_count"]) == ("succeeded", 2, 2, 0)
    assert body["created_by"] == analyst.pk
    assert body["finished_at"] is not None
    metrics = list(Metric.objects.order_by("timestamp"))
    assert [(m.name, m.value, m.owner_id, m.upload_id) for m in metrics] == [
        ("visits", 3.0, analyst.pk, body["id"]),
        ("visits", 4.5, analyst.pk, body["id"]),
    ]
    assert metrics[0].timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert metrics[1].timestamp == datetime(2026, 1, 2, 10, tzinfo=UTC)


def test_naive_timestamps_are_read_in_the_tz_field(analyst_client):
    content = b"name,value,timestamp\nx,1,2026-07-01T12:00:00\ny,1,2026-07-01\n"
    assert upload(analyst_client, "tz.csv", content, tz="Europe/Berlin").status_code == HTTPStatus.CREATED
    assert Metric.objects.get(name="x").timestamp == datetime(2026, 7, 1, 10, tzinfo=UTC)
    assert Metric.objects.get(name="y").timestamp == datetime(2026, 6, 30, 22, tzinfo=UTC)


def test_unknown_tz_and_missing_file_are_field_errors(analyst_client):
    bad_tz = upload(analyst_client, "a.csv", b"name,value,timestamp\na,1,2026-01-01\n", tz="Moon/Base")
    assert bad_tz.status_code == HTTPStatus.BAD_REQUEST
    assert "tz" in bad_tz.json()["errors"]
    missing = analyst_client.post(UPLOAD, {"tz": "UTC"}, format="multipart")
    assert missing.status_code == HTTPStatus.BAD_REQUEST
    assert "file" in missing.json()["errors"]
    # A multipart body without a single part is malformed (RFC 2046).
    empty = analyst_client.post(UPLOAD, {}, format="multipart")
    assert empty.status_code == HTTPStatus.BAD_REQUEST
    assert empty.json()["code"] == "parse_error"
    as_json = analyst_client.post(UPLOAD, {"file": "x"}, format="json")
    assert as_json.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert as_json.json()["code"] == "unsupported_media_type"


def test_duplicate_upload_is_409_unless_allowed(analyst_client):
    content = b"name,value,timestamp\na,1,2026-01-01\n"
    first = upload(analyst_client, "a.csv", content).json()
    again = upload(analyst_client, "b.csv", content)
    assert again.status_code == HTTPStatus.CONFLICT
    assert again.json()["code"] == "duplicate_upload"
    assert again.json()["upload"]["id"] == first["id"]
    assert upload(analyst_client, "c.csv", content, query="?allow_duplicate=true").status_code == HTTPStatus.CREATED
    assert Metric.objects.count() == 2


def test_failed_upload_does_not_block_a_retry(analyst_client):
    content = b"name,value,timestamp\na,bad,2026-01-01\n"
    assert upload(analyst_client, "a.csv", content).status_code == HTTPStatus.BAD_REQUEST
    assert upload(analyst_client, "a.csv", content).status_code == HTTPStatus.BAD_REQUEST


def test_oversized_file_is_413(analyst_client, settings):
    settings.UPLOAD_MAX_BYTES = 100
    response = upload(analyst_client, "big.csv", b"name,value,timestamp\n" + b"a,1,2026-01-01\n" * 20)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["code"] == "payload_too_large"
    assert not Upload.objects.exists()


def test_body_over_the_cap_is_refused_before_it_is_read(analyst_client, settings):
    settings.API_BODY_LIMITS = {r"^/api/v1/dashboard/upload/?$": 1000}
    response = upload(analyst_client, "big.csv", b"name,value,timestamp\n" + b"a,1,2026-01-01\n" * 200)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert not Upload.objects.exists()


def test_export_reimports_to_the_same_metrics(analyst, analyst_client):
    for name, value in [("=cmd|' /C calc'!A0", 1.25), ("+plus", -3.0), ("'quoted", 1e-7), ("plain", 12345678.9)]:
        MetricFactory(
            owner=analyst, name=name, value=value, timestamp=datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
        )
    exported = b"".join(analyst_client.get("/api/v1/dashboard/metrics/export").streaming_content)
    original = sorted(Metric.objects.values_list("name", "value", "timestamp"))
    Metric.objects.all().delete()
    response = upload(analyst_client, "export.csv", exported)
    assert response.status_code == HTTPStatus.CREATED, response.json()
    assert sorted(Metric.objects.values_list("name", "value", "timestamp")) == original


def test_uploads_list_visibility_and_delete_removes_exactly_its_metrics(user_with_role, client_for, analyst):
    client = client_for(analyst)
    first = upload(client, "1.csv", b"name,value,timestamp\na,1,2026-01-01\nb,2,2026-01-01\n").json()
    second = upload(client, "2.csv", b"name,value,timestamp\nc,3,2026-01-01\n").json()
    manual = MetricFactory(owner=analyst)
    stranger = client_for(user_with_role("analyst"))
    assert stranger.get(UPLOADS).json()["count"] == 0
    assert stranger.delete(f"{UPLOADS}/{first['id']}").status_code == HTTPStatus.NOT_FOUND
    assert client_for(user_with_role("manager")).get(UPLOADS).json()["count"] == 2
    listing = client.get(UPLOADS).json()
    assert [row["id"] for row in listing["results"]] == [second["id"], first["id"]]
    assert client.delete(f"{UPLOADS}/{first['id']}/").status_code == HTTPStatus.NO_CONTENT
    assert sorted(Metric.objects.values_list("name", flat=True)) == sorted(["c", manual.name])
    assert not Upload.objects.filter(pk=first["id"]).exists()


def test_upload_permissions(user_with_role, client_for):
    viewer = client_for(user_with_role("viewer"))
    response = upload(viewer, "a.csv", b"name,value,timestamp\na,1,2026-01-01\n")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert viewer.get(UPLOADS).status_code == HTTPStatus.OK
    assert client_for(user_with_role()).get(UPLOADS).status_code == HTTPStatus.FORBIDDEN


def test_viewer_cannot_delete_own_upload(user_with_role, client_for):
    viewer = user_with_role("viewer")
    record = UploadFactory(created_by=viewer)
    assert client_for(viewer).delete(f"{UPLOADS}/{record.pk}").status_code == HTTPStatus.FORBIDDEN


def test_upload_still_processing_cannot_be_deleted(analyst, analyst_client):
    record = UploadFactory(status="processing", created_by=analyst)
    response = analyst_client.delete(f"{UPLOADS}/{record.pk}")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "conflict"


def test_a_failed_upload_keeps_its_record_and_errors_but_not_its_file(
    analyst_client, django_capture_on_commit_callbacks
):
    before = _stored_files()
    with django_capture_on_commit_callbacks(execute=True):
        body = upload(analyst_client, "bad.csv", b"name,value,timestamp\nvisits,oops,2026-01-01\n").json()
    record = Upload.objects.get(pk=body["upload"]["id"])
    assert record.status == Upload.Status.FAILED
    assert record.errors[0]["column"] == "value"
    assert not record.file.name
    assert _stored_files() == before
    good = upload(analyst_client, "good.csv", b"name,value,timestamp\nvisits,1,2026-01-01\n").json()
    assert Upload.objects.get(pk=good["id"]).file.name in _stored_files()


def _stored_files(path: str = "uploads") -> set[str]:
    from django.core.files.storage import default_storage

    if not default_storage.exists(path):
        return set()
    directories, files = default_storage.listdir(path)
    found = {f"{path}/{name}" for name in files}
    for directory in directories:
        found |= _stored_files(f"{path}/{directory}")
    return found


def test_uploads_are_throttled_per_user(analyst_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "upload": "2/hour"},
    }
    statuses = [
        upload(analyst_client, f"{i}.csv", f"name,value,timestamp\nv,{i},2026-01-01\n".encode()).status_code
        for i in range(3)
    ]
    assert statuses == [HTTPStatus.CREATED, HTTPStatus.CREATED, HTTPStatus.TOO_MANY_REQUESTS]
    blocked = upload(analyst_client, "x.csv", b"name,value,timestamp\nv,9,2026-01-01\n")
    assert blocked.json()["code"] == "throttled"
    assert int(blocked["Retry-After"]) > 0
