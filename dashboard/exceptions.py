"""API exceptions of the dashboard app, in the contract's codes."""

from __future__ import annotations

from rest_framework import exceptions, status


class InvalidFile(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The file cannot be read as a metrics CSV."
    default_code = "invalid_file"

    @classmethod
    def unsupported(cls, message: str) -> UnsupportedUploadFormat:
        return UnsupportedUploadFormat(message)


class UnsupportedUploadFormat(exceptions.UnsupportedMediaType):
    def __init__(self, message: str):
        super().__init__(media_type="application/zip", detail=message)


class UploadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The file is larger than the upload limit."
    default_code = "payload_too_large"


class DuplicateUpload(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "You already uploaded this file; add ?allow_duplicate=true to import it again."
    default_code = "duplicate_upload"

    def __init__(self, existing):
        super().__init__()
        self.existing = existing


class UploadBusy(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The upload is still being processed."
    default_code = "conflict"


class InvalidRows(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Some rows are invalid; nothing was imported."
    default_code = "invalid_rows"


class TooManyPoints(exceptions.APIException):
    """A series whose range holds more buckets than ``SERIES_MAX_POINTS``; names the finest bucket that fits."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_many_points"

    def __init__(self, *, bucket: str, points: int, max_points: int, finest_fitting: str | None):
        if finest_fitting is None:
            advice = "no bucket fits; narrow the range with 'from' and 'to'."
        else:
            advice = f"the finest bucket that fits is '{finest_fitting}' (or narrow the range with 'from' and 'to')."
        super().__init__(
            f"The range holds {points:,} '{bucket}' buckets, more than the limit of {max_points:,}; {advice}"
        )
        self.extra = {"bucket": bucket, "points": points, "max_points": max_points, "finest_bucket": finest_fitting}
