"""gunicorn's settings for this project: ``gunicorn -c gunicorn.conf.py --bind HOST:PORT`` serves ``config.wsgi``.

Workers come from ``WEB_CONCURRENCY`` and the worker timeout from ``WEB_TIMEOUT``; the default timeout leaves time for
an inline upload of ``UPLOAD_MAX_BYTES``. Values come from the environment (and the project's ``.env``, as for
Django), so the deploy command, ``make serve`` and the benchmarks all run with the same settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

_ROOT = Path(__file__).resolve().parent
if (_ROOT / ".env").is_file():
    environ.Env.read_env(_ROOT / ".env", overwrite=False)
_env = environ.Env()

# Same default as settings.UPLOAD_MAX_BYTES; the test of this file checks that the two agree.
UPLOAD_MAX_BYTES_DEFAULT = 100 * 1024 * 1024
# The slowest import rate a timeout must still cover (bench/bench_uploads.py measures about 4 MB/s on an idle machine;
# a loaded one with the file still arriving over the network can be several times slower) and a margin on top.
_SLOWEST_IMPORT_BYTES_PER_SECOND = 1024 * 1024
_TIMEOUT_MARGIN_SECONDS = 30


def default_timeout(upload_max_bytes: int) -> int:
    """Seconds a worker may spend on one request: enough to receive and import an upload of the maximum size."""
    return _TIMEOUT_MARGIN_SECONDS + -(-upload_max_bytes // _SLOWEST_IMPORT_BYTES_PER_SECOND)


wsgi_app = "config.wsgi:application"
chdir = str(_ROOT)
workers = _env.int("WEB_CONCURRENCY", default=2 * (os.cpu_count() or 1) + 1)
timeout = _env.int(
    "WEB_TIMEOUT", default=default_timeout(_env.int("UPLOAD_MAX_BYTES", default=UPLOAD_MAX_BYTES_DEFAULT))
)
# On a restart or SIGTERM, requests in flight (an upload) get as long to finish as they would have had anyway.
graceful_timeout = timeout
keepalive = 5
# Recycle workers now and then (a leak or a fragmented heap cannot grow for ever); the jitter keeps them from all
# restarting at once.
max_requests = 2000
max_requests_jitter = 200
# The project logs each request itself (dashboard.request, with its request id and user); no second access log.
accesslog = None
disable_redirect_access_to_syslog = True
errorlog = "-"
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl): several servers on one host
# would share it, and nothing here uses it.
control_socket_disable = True
