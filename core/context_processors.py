"""Template context shared by the admin and staff pages."""

from django.conf import settings


def project(request) -> dict:
    return {"project_name": settings.PROJECT_NAME, "project_version": settings.VERSION}
