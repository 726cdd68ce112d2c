"""Test settings: the real settings module, read with a test environment, plus speed-ups for the suite."""

import os
import uuid

# Counters and caches never leak between runs: each run gets its own key namespace (in Redis too).
os.environ["CACHE_KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
os.environ.setdefault("SECRET_KEY", "test-" + "s" * 60)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("CORS_ALLOWED_ORIGINS", "http://spa.example.com")
# Tests log staff into the admin with a password alone; the tests of the MFA gate turn it on.
os.environ.setdefault("ADMIN_REQUIRE_MFA", "false")

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, REDIS_URL

_RUN_PREFIX = os.environ["CACHE_KEY_PREFIX"]

# A cheap hasher; the tests of hashing itself override this back to the real list.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Without Redis, memory instead of the settings' file cache (fast, and gone with the process).
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": _RUN_PREFIX}}

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media" / _RUN_PREFIX

# Static files straight from the finders (no collectstatic before tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
