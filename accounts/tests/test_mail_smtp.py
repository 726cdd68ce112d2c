"""The reset mail through a real SMTP server (aiosmtpd) configured with EMAIL_URL."""

import asyncio
import socket
import time
from http import HTTPStatus

import environ
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from accounts.outbox import mail_threads_join
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


def test_reset_mail_goes_through_smtp_from_email_url(smtp_server, settings, api_client, request_password_reset):
    controller, handler = smtp_server
    port = controller.port
    for key, value in environ.Env.email_url_config(f"smtp://127.0.0.1:{port}").items():
        setattr(settings, key, value)
    settings.DEFAULT_FROM_EMAIL = "noreply@dashboard.test"
    UserFactory(email="smtp@example.com")
    response = request_password_reset(api_client, "smtp@example.com")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert len(handler.messages) == 1
    message = handler.messages[0]
    assert message["To"] == "smtp@example.com"
    assert message["From"] == "noreply@dashboard.test"
    assert "/reset-password?uid=" in message.get_payload(decode=True).decode()


class SlowCollector(Collector):
    """A mail server that takes its time to accept a message, like a real one far away."""

    delay = 0.5

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_reset_answers_known_and_unknown_addresses_without_waiting_for_the_mail_server(
    settings, api_client, django_capture_on_commit_callbacks
):
    handler = SlowCollector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        for key, value in environ.Env.email_url_config(f"smtp://127.0.0.1:{controller.port}").items():
            setattr(settings, key, value)
        UserFactory(email="known@example.com")
        timings = {}
        for email in ("known@example.com", "unknown@example.com"):
            started = time.perf_counter()
            with django_capture_on_commit_callbacks(execute=True):
                response = api_client.post("/api/v1/auth/password-reset", {"email": email}, format="json")
            timings[email] = time.perf_counter() - started
            assert response.status_code == HTTPStatus.NO_CONTENT
        # Neither response waited for the server's half second; the mail is delivered afterwards.
        assert max(timings.values()) < SlowCollector.delay / 2, timings
        assert handler.messages == []
        mail_threads_join()
        assert [message["To"] for message in handler.messages] == ["known@example.com"]
    finally:
        controller.stop()
