"""``@idempotent`` for DRF handler methods: honours the ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key).

Without the header the handler runs as usual. With it, the request is fingerprinted (method, path, query, a digest of
the body), the key is claimed for (user, route), the handler runs, and its rendered response is kept for
``IDEMPOTENCY_TTL_HOURS`` unless its status is 500 or more. A repeat with the same fingerprint gets the kept response
with ``Idempotent-Replayed: true`` and writes nothing; another fingerprint is 422, a repeat while the first still
runs is 409.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from urllib.parse import urlencode

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from accounts.request_user import request_user
from idempotency.models import IdempotencyRecord
from idempotency.services import idempotency_claim, idempotency_complete, idempotency_release

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")
_FILE_CHUNK = 1024 * 1024

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="1-255 printable ASCII characters (a UUID is a good choice). A retry with the same key and request "
    "gets the first response again (with `Idempotent-Replayed: true`) and writes nothing; 422 "
    "`idempotency_key_reused` if the request differs, 409 `idempotency_in_progress` while the first still runs.",
)


def idempotency_key_validated(raw: str) -> str:
    if not 1 <= len(raw) <= KEY_MAX_LENGTH or not _PRINTABLE_ASCII.match(raw):
        raise ValidationError({HEADER: [f"Must be 1-{KEY_MAX_LENGTH} printable ASCII characters."]})
    return raw


def _file_digest(upload: UploadedFile) -> str:
    sha = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks(_FILE_CHUNK):
        sha.update(chunk)
    upload.seek(0)
    return sha.hexdigest()


def _body_digest(request: Request) -> str:
    """A digest of what the body says: JSON canonicalised, form fields sorted, files by name and content.

    Parsed rather than raw, because a multipart body's boundary is random on every retry of the same upload.
    """
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict (form or multipart)
        items = data.lists()
    elif isinstance(data, dict) and any(isinstance(value, UploadedFile) for value in data.values()):
        # The project's form parsers give plain dicts (core.parsers.form_fields), files included.
        items = [(name, value if isinstance(value, list) else [value]) for name, value in data.items()]
    else:
        items = None
    canonical: object
    if items is not None:
        fields = []
        for name, values in sorted(items):
            for value in values:
                if isinstance(value, UploadedFile):
                    fields.append([name, "file", value.name, value.size, _file_digest(value)])
                else:
                    fields.append([name, "value", value])
        canonical = fields
    else:
        canonical = data
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path (trailing slash ignored), sorted query and body digest."""
    query = urlencode(sorted((k, v) for k, values in request.query_params.lists() for v in values))
    parts = [request.method or "", request.path.rstrip("/"), query, _body_digest(request)]  # a request has a method
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _route(request: Request) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match else "") or request.path.rstrip("/")


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body or b""), status=record.status_code)
    if record.content_type:
        response["Content-Type"] = record.content_type
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(handler):
    """Decorate a DRF view's handler method (``create``, ``post``) so it honours ``Idempotency-Key``."""

    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs):
        raw_key = request.headers.get(HEADER)
        if raw_key is None:
            return handler(view, request, *args, **kwargs)
        key = idempotency_key_validated(raw_key)
        outcome = idempotency_claim(
            user=request_user(request), route=_route(request), key=key, fingerprint=request_fingerprint(request)
        )
        if outcome.stored is not None:
            return _replay(outcome.stored)
        record = outcome.claimed
        assert record is not None  # a ClaimOutcome is either stored or claimed
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # The error responses (400, 409, 413...) are kept like any other under 500.
                response = view.handle_exception(exc)
            response = view.finalize_response(request, response, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        except BaseException:
            idempotency_release(record=record)
            raise
        idempotency_complete(
            record=record,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
        return response

    return wrapper
