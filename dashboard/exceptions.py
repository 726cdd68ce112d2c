"""Domain errors of the dashboard services (see :mod:`core.errors`): the API, the admin and the CLI read them."""

from __future__ import annotations

from core.errors import DomainError


class UploadTooLarge(DomainError):
    code = "payload_too_large"
    message = "The file is larger than the upload limit."


class InvalidFile(DomainError):
    code = "invalid_file"
    message = "The file cannot be read as a metrics CSV."


class UnsupportedUploadFormat(DomainError):
    code = "unsupported_media_type"
    message = "This file format is not supported; upload CSV text."


class UploadBusy(DomainError):
    code = "conflict"
    message = "The upload is still being processed."


class DuplicateUpload(DomainError):
    """The owner already has this file (same SHA-256) pending, processing or imported; ``existing`` is that upload."""

    code = "duplicate_upload"
    message = "You already uploaded this file; add ?allow_duplicate=true to import it again."

    def __init__(self, existing):
        super().__init__()
        self.existing = existing


class TooManyPoints(DomainError):
    """A series whose range holds more buckets than ``SERIES_MAX_POINTS``; names the finest bucket that fits.

    ``extra`` (bucket, points, max_points, finest_bucket) goes into the API's error body beside the message."""

    code = "too_many_points"

    def __init__(self, *, bucket: str, points: int, max_points: int, finest_fitting: str | None):
        if finest_fitting is None:
            advice = "no bucket fits; narrow the range with 'from' and 'to'."
        else:
            advice = f"the finest bucket that fits is '{finest_fitting}' (or narrow the range with 'from' and 'to')."
        super().__init__(
            f"The range holds {points:,} '{bucket}' buckets, more than the limit of {max_points:,}; {advice}"
        )
        self.extra = {"bucket": bucket, "points": points, "max_points": max_points, "finest_bucket": finest_fitting}
