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
