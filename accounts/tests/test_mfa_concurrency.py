"""Two-factor codes under concurrency, on PostgreSQL: one TOTP code sent by two clients at once logs in only one."""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from accounts.tests.mfa import fresh_code, mfa_enable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]

API = "/api/v1"


def test_one_totp_code_sent_twice_at_once_logs_in_once():
    user = UserFactory(email="race@example.com")
    mfa_enable(user)
    tokens = [
        APIClient()
        .post(f"{API}/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
        .json()["mfa_token"]
        for _ in range(2)
    ]
    code = fresh_code(user)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def attempt(mfa_token: str) -> None:
        try:
            barrier.wait(timeout=10)
            response = APIClient(REMOTE_ADDR=f"10.1.0.{len(mfa_token) % 250}").post(
                f"{API}/auth/login/mfa", {"mfa_token": mfa_token, "code": code}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [HTTPStatus.OK, HTTPStatus.UNAUTHORIZED]
