"""The reset mail never lands in the server log, and the worker's task sends it."""

import logging
from http import HTTPStatus

import pytest

from accounts.tasks import password_reset_task
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_with_debug_off_a_printing_backend_gets_no_reset_link(
    settings, api_client, request_password_reset, capsys, caplog
):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    UserFactory(email="printed@example.com")
    with caplog.at_level(logging.INFO):
        response = request_password_reset(api_client, "printed@example.com")
    assert response.status_code == HTTPStatus.NO_CONTENT
    captured = capsys.readouterr()
    assert "reset-password" not in captured.out + captured.err + caplog.text
    assert "EMAIL_BACKEND would print it" in caplog.text


def test_with_debug_on_the_console_backend_still_prints_for_local_development(
    settings, api_client, request_password_reset, capsys
):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    UserFactory(email="dev@example.com")
    request_password_reset(api_client, "dev@example.com")
    assert "/reset-password?uid=" in capsys.readouterr().out


def test_the_worker_task_looks_the_address_up_and_sends_at_once(mailoutbox):
    UserFactory(email="queued@example.com")
    password_reset_task.apply(args=("QUEUED@example.com",)).get()
    password_reset_task.apply(args=("nobody@example.com",)).get()
    assert [message.to for message in mailoutbox] == [["queued@example.com"]]
