"""OpenAPI description of the project's authentication (loaded in AccountsConfig.ready)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.VersionedJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = (
            "Log in with `POST /api/v1/auth/login` (email and password) and paste the `access` token of the answer "
            "here, without `Bearer` (it is short-lived: log in again, or refresh, when calls answer 401). Scripts "
            "paste an API key instead (`dsh_…`, from `users/me/api-keys`)."
        )
        return definition
