"""Throwaway PostgreSQL clusters for tests that must stop, restart or replicate a real server (never the shared one)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL's tools refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def server_binaries_available(*tools: str) -> bool:
    """True when the PostgreSQL 15 server tools are installed (and, as root, can be run as postgres)."""
    present = all((PG_BIN / tool).exists() for tool in ("initdb", "pg_ctl", *tools))
    return present and (os.geteuid() != 0 or bool(shutil.which("runuser")))


class Cluster:
    """A throwaway PostgreSQL cluster in a directory of its own, on a free port."""

    def __init__(self, root: Path, name: str):
        self.root, self.dir, self.port = root, root / name, free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def initdb(self) -> None:
        command = [str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"]
        subprocess.run(as_postgres(command), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        command = [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir),
            "-l",
            f"{self.dir}.log",
            "-w",
            "-t",
            "60",
            "-o",
            options,
        ]
        subprocess.run(as_postgres([*command, "start"]), check=True, capture_output=True, timeout=90)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` (a crash: no shutdown checkpoint) or ``fast`` (sessions are terminated,
        as in a restart by an operator)."""
        if (self.dir / "postmaster.pid").exists():
            command = [str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop"]
            subprocess.run(as_postgres(command), capture_output=True, timeout=60)

    def query(self, sql: str, database: str = "postgres", params=None):
        with psycopg.connect(f"{self.url}/{database}", autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else None


@contextlib.contextmanager
def cluster_root(prefix: str) -> Iterator[Path]:
    """A temporary directory the postgres user owns, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-{uuid.uuid4().hex[:8]}-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
