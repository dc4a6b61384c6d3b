"""Real Celery workers and beat in subprocesses, on a real broker and the test database: what
the operations tests kill, restart and watch. Each process leads its own process group, so a
test can kill a whole worker (main process and pool) or its main process only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings

from marketplace.bench.live.server import database_url

READY_SECONDS = 60.0


@dataclass
class CeleryProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_main_process(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def kill_whole_worker(self) -> None:
        """SIGKILL to the main process and its pool at once (`kill -9 -<pgid>`)."""
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_for(self, text: str, timeout: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_text()[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name}: no {text!r} within {timeout:.0f} s:\n{self.log_text()[-4000:]}"
        )


def _env(broker_url: str, extra_env: dict[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }


@contextmanager
def _celery(
    name: str, args: list[str], broker_url: str, extra_env: dict[str, str] | None
) -> Iterator[CeleryProcess]:
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the process's exit)
        prefix=f"waypost-{name}-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", *args],
        cwd=settings.BASE_DIR,
        env=_env(broker_url, extra_env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    celery = CeleryProcess(name=name, process=process, log=Path(log_file.name))
    try:
        yield celery
    finally:
        with suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        with suppress(ProcessLookupError):  # what is left (a pool orphaned by a killed main)
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def celery_worker(
    name: str, *, broker_url: str, concurrency: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[CeleryProcess]:
    """A prefork worker with the project's settings (acks late, prefetch 1), ready on return."""
    args = [
        "worker",
        "--loglevel",
        "INFO",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    with _celery(name, args, broker_url, extra_env) as worker:
        worker.wait_for(" ready.")
        yield worker


@contextmanager
def celery_beat(
    *, broker_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[CeleryProcess]:
    schedule = Path(tempfile.mkdtemp(prefix="waypost-beat-")) / "schedule"
    args = ["beat", "--loglevel", "INFO", "--schedule", str(schedule)]
    with _celery("beat", args, broker_url, extra_env) as beat:
        beat.wait_for("beat: Starting")
        yield beat


# --- the Redis broker's own bookkeeping (kombu's redis transport) --------------------------------
def redis_broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def queued(client: redis.Redis, queue: str = "celery") -> int:
    return int(client.llen(queue))


def unacked_task_args(client: redis.Redis) -> list[tuple[str, list[object]]]:
    """(task name, args) of the messages taken by a worker and not acknowledged: those a dead
    worker held, until the visibility timeout hands them out again."""
    found = []
    for raw in client.hvals("unacked"):
        message = json.loads(raw)[0]
        body = json.loads(b64decode(message["body"]))
        found.append((message["headers"]["task"], body[0]))
    return found
