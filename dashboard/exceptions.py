"""Domain errors of the dashboard services (see :mod:`config.domain`): the API, the admin and the CLI read them."""

from __future__ import annotations

from config.domain import DomainError


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
