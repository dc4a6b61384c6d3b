"""Serve the ASGI app with uvicorn in a subprocess on a free loopback port, against the database
this process uses: what `bench_live` and the live tests connect real WebSocket clients to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

STARTUP_SECONDS = 30.0
# As the Dockerfile and `make run` serve: no per-message deflate on the sockets (our frames are a
# few hundred bytes; compressing each costs more CPU, and memory per socket, than it saves).
UVICORN_WS_OPTIONS = ["--ws-per-message-deflate", "false"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(settings_dict: dict[str, Any] | None = None) -> str:
    """A DATABASE_URL for the database this process is connected to (under pytest-django, the
    test database), so the server sees what this process commits."""
    db = settings_dict or connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgis://{auth}{host}{port}/{db['NAME']}"


@dataclass
class LiveServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_until_listening(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{server.log_tail()}")
        try:
            with socket.create_connection((server.host, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def uvicorn_server(
    *,
    settings_module: str,
    redis_url: str,
    app: str = "config.asgi:application",
    port: int | None = None,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Start `uvicorn <app>` on 127.0.0.1; stop it (and only it) on exit."""
    host, port = "127.0.0.1", port or free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        *UVICORN_WS_OPTIONS,
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below)
        prefix="waypost-uvicorn-", suffix=".log", delete=False
    )
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        command,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(host=host, port=port, process=process, log=Path(log_file.name))
    try:
        _wait_until_listening(server, STARTUP_SECONDS)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log_file.close()
        server.log.unlink(missing_ok=True)
