"""The reset mail through a real SMTP server (aiosmtpd) configured with EMAIL_URL."""

import socket
from http import HTTPStatus

import environ
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Collector(MessageHandler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_reset_mail_goes_through_smtp_from_email_url(smtp_server, settings, api_client):
    controller, handler = smtp_server
    port = controller.port
    for key, value in environ.Env.email_url_config(f"smtp://127.0.0.1:{port}").items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "noreply@dashboard.test"
    UserFactory(email="smtp@example.com")
    response = api_client.post("/api/v1/auth/password-reset", {"email": "smtp@example.com"}, format="json")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert len(handler.messages) == 1
    message = handler.messages[0]
    assert message["To"] == "smtp@example.com"
    assert message["From"] == "noreply@dashboard.test"
    assert "/reset-password?uid=" in message.get_payload(decode=True).decode()
