"""API exceptions of the accounts app, in the contract's codes."""

from rest_framework import exceptions, status


class TokenNotValid(exceptions.AuthenticationFailed):
    default_detail = "Token is invalid or expired."
    default_code = "token_not_valid"


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "No active account found with the given credentials."
    default_code = "invalid_credentials"


class RegistrationClosed(exceptions.PermissionDenied):
    default_detail = "Registration is closed."
    default_code = "registration_closed"


class UserOwnsData(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This user owns data and cannot be deleted; deactivate the account instead."
    default_code = "user_owns_data"


class MfaTokenNotValid(exceptions.AuthenticationFailed):
    default_detail = "The MFA token is invalid, expired or already used; log in again."
    default_code = "token_not_valid"


class MfaConflict(exceptions.APIException):
    """The request does not fit the account's two-factor state (already on, not on, nothing pending)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the account's two-factor authentication state."
    default_code = "conflict"
