"""Domain errors of the accounts app (``core.errors``), in the contract's codes."""

from core.errors import DomainError, RateLimited


class TokenNotValid(DomainError):
    code = "token_not_valid"
    message = "Token is invalid or expired."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    message = "No active account found with the given credentials."


class RegistrationClosed(DomainError):
    code = "registration_closed"
    message = "Registration is closed."


class UserOwnsData(DomainError):
    code = "user_owns_data"
    message = "This user owns data and cannot be deleted; deactivate the account instead."


class MfaTokenNotValid(DomainError):
    code = "token_not_valid"
    message = "The MFA token is invalid, expired or already used; log in again."


class MfaConflict(DomainError):
    """The request does not fit the account's two-factor state (already on, not on, nothing pending)."""

    code = "conflict"
    message = "The request conflicts with the account's two-factor authentication state."


class TooManyWrongCodes(RateLimited):
    """The account's two-factor back-off runs (django-otp's throttling of the TOTP device)."""

    message = "Too many wrong codes; wait before trying again."
