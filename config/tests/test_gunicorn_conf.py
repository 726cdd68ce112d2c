"""gunicorn.conf.py: it loads, reads WEB_CONCURRENCY and WEB_TIMEOUT, and serves with the project's own request log."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")]


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    names = ("WEB_", "UPLOAD_", "GUNICORN_", "POSTGRES_", "DJANGO_", "DATABASE_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(names)}
    return {**env, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": "", **extra}


def _printed_config(tmp_path: Path, **extra: str) -> dict[str, str]:
    result = subprocess.run(
        [*GUNICORN, "--print-config"],
        cwd=tmp_path,
        env=_clean_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        settings[name.strip()] = value.strip()
    return settings


def _conf_module():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", REPO / "gunicorn.conf.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workers_and_timeout_come_from_the_environment(tmp_path):
    printed = _printed_config(tmp_path, WEB_CONCURRENCY="3", WEB_TIMEOUT="77")
    assert printed["workers"] == "3"
    assert printed["timeout"] == "77"
    assert printed["graceful_timeout"] == "77"
    assert printed["wsgi_app"] == "config.wsgi:application"
    assert printed["accesslog"] == "None"
    assert printed["control_socket_disable"] == "True"
    assert int(printed["max_requests"]) > 0
    assert 0 < int(printed["max_requests_jitter"]) < int(printed["max_requests"])


def test_default_timeout_is_sized_to_the_upload_cap(tmp_path):
    conf = _conf_module()
    default = _printed_config(tmp_path)
    assert int(default["timeout"]) == conf.default_timeout(100 * 1024 * 1024) > 30  # gunicorn's own 30 s was too short
    bigger = _printed_config(tmp_path, UPLOAD_MAX_BYTES=str(300 * 1024 * 1024))
    assert int(bigger["timeout"]) == conf.default_timeout(300 * 1024 * 1024) > int(default["timeout"])
    # The file's default cap is the settings' one.
    probe = "import config.settings as s; print(s.UPLOAD_MAX_BYTES)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_clean_env(tmp_path, DEBUG="true", CACHE_DIR=str(tmp_path / "cache")),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert int(result.stdout.strip()) == conf.UPLOAD_MAX_BYTES_DEFAULT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serves_with_one_log_line_per_request_and_no_control_socket(tmp_path):
    port = _free_port()
    env = _clean_env(
        tmp_path,
        WEB_CONCURRENCY="1",
        DEBUG="false",
        SECRET_KEY="gunicorn-conf-test-" + "k" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        CACHE_DIR=str(tmp_path / "cache"),
        LOG_LEVEL="INFO",
    )
    log = tmp_path / "server.log"
    with log.open("w") as stream:
        server = subprocess.Popen(
            [*GUNICORN, "--bind", f"127.0.0.1:{port}"], cwd=tmp_path, env=env, stdout=stream, stderr=stream
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                    break
                except OSError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            assert body == b'{"status": "ok"}'
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [line for line in log.read_text().splitlines() if "/healthz" in line]
    assert len(lines) == 2, log.read_text()  # the project's request log only; gunicorn's access log is off
    assert all("dashboard.request" in line for line in lines)
    assert not (tmp_path / ".gunicorn").exists()
