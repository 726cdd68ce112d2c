"""OpenAPI description of the project's authentication (loaded in AccountsConfig.ready)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.VersionedJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = (
            "`Authorization: Bearer <token>` with a JWT access token from auth/login, or an API key "
            "(`dsh_<prefix>_<secret>`, from users/me/api-keys) for scripts and services."
        )
        return definition
