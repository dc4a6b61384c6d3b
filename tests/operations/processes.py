"""Several processes, one system (issue 13): N uvicorn processes sharing one Redis channel layer
and M Celery workers with beat on one broker, all on the test database and with the settings of
tests/operations/process_settings.py (tasks queued to the broker, never run eagerly); and what
the workers' logs say about the tasks they ran.

Every process gets the same environment: a channel-layer prefix and a default queue of its own
run, so that runs sharing Redis or a broker never see each other's groups or tasks. The
processes start side by side (each waits until it is ready) and are all stopped on exit, even
when one of them failed to start.
"""

from __future__ import annotations

import re
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from kombu import Connection
from kombu.exceptions import ChannelError

from marketplace.bench.live.server import LiveServer, uvicorn_server
from tests.operations.celery_processes import CeleryProcess, celery_beat, celery_worker

SETTINGS_MODULE = "tests.operations.process_settings"
# Redis Pub/Sub ignores the database number: the prefix keeps this run's groups apart.
CHANNEL_LAYER_URL = "redis://127.0.0.1:6379/10"


@dataclass
class System:
    web: list[LiveServer]
    workers: list[CeleryProcess]
    beat: CeleryProcess
    broker_url: str
    queue: str
    env: dict[str, str]

    def web_process(self) -> AbstractContextManager[LiveServer]:
        """One more web process of this system (started on entry, stopped on exit)."""
        return uvicorn_server(
            settings_module=SETTINGS_MODULE, redis_url=CHANNEL_LAYER_URL, extra_env=self.env
        )

    def queued(self) -> int:
        """Messages waiting in this run's queue (not those a worker holds)."""
        with Connection(self.broker_url) as connection:
            try:
                declared = connection.default_channel.queue_declare(self.queue, passive=True)
            except ChannelError:  # Redis keeps no empty list: the queue is empty
                return 0
            return int(declared[1])


@contextmanager
def several_processes(
    *, broker_url: str, web: int = 2, workers: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[System]:
    tag = secrets.token_hex(4)
    queue = f"waypost-processes-{tag}"
    env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "REDIS_URL": CHANNEL_LAYER_URL,
        "TEST_CHANNELS_PREFIX": f"processes-{tag}",
        **(extra_env or {}),
    }
    with ExitStack() as stack:
        stack.callback(_queue_delete, broker_url, queue)  # the last thing done
        servers = [
            uvicorn_server(
                settings_module=SETTINGS_MODULE, redis_url=CHANNEL_LAYER_URL, extra_env=env
            )
            for _ in range(web)
        ]
        celery = [
            celery_worker(f"worker{i + 1}-{tag}", broker_url=broker_url, extra_env=env)
            for i in range(workers)
        ]
        started = _enter_together(
            stack, [*servers, *celery, celery_beat(broker_url=broker_url, extra_env=env)]
        )
        yield System(
            web=started[:web],
            workers=started[web : web + workers],
            beat=started[-1],
            broker_url=broker_url,
            queue=queue,
            env=env,
        )


def _enter_together(stack: ExitStack, managers: list[AbstractContextManager[Any]]) -> list[Any]:
    """Enter the context managers at once, one thread each; `stack` exits every one that was
    entered, even when another failed (whose own exit already ran) or the wait for them was
    interrupted (the threads are let finish first)."""
    pool = ThreadPoolExecutor(len(managers))
    futures = [pool.submit(manager.__enter__) for manager in managers]
    try:
        wait(futures)
    finally:
        pool.shutdown(wait=True)
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                stack.push(manager)
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        raise errors[0]
    return [future.result() for future in futures]


def _queue_delete(broker_url: str, queue: str) -> None:
    """Remove this run's queue (and the exchange of the same name) from the broker."""
    if broker_url.startswith("redis"):  # kombu keeps the queue and its bindings in keys
        client = redis.Redis.from_url(broker_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        return
    with Connection(broker_url, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(queue)
        connection.default_channel.exchange_delete(queue)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM to the test run (`timeout`, a CI runner) stops it as Ctrl-C does, so that the
    finalizers still stop the processes instead of leaving them to run on."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def broker_answers(broker_url: str) -> None:
    """Raise, naming the broker, unless it accepts a connection within a few seconds."""
    with Connection(broker_url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=1)


# --- what the workers' logs say (Celery's own INFO lines) ---------------------------------------
_TASK_LINE = re.compile(
    r"Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]{36})\] "
    r"(?:(?P<received>received)|succeeded in [\d.]+s: (?P<result>.*)|(?P<other>.*))$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class TaskRun:
    worker: str
    name: str
    id: str
    outcome: str  # the return value, or what a retry or failure line says


@dataclass(frozen=True)
class TaskLog:
    received: list[TaskRun]  # one per "received" line (no outcome)
    succeeded: list[TaskRun]
    not_succeeded: list[TaskRun]  # retries and failures

    def runs_of(self, name: str) -> list[TaskRun]:
        return [run for run in self.succeeded if run.name == name]

    def per_worker(self, name: str) -> Counter[str]:
        return Counter(run.worker for run in self.runs_of(name))

    def unfinished(self) -> list[TaskRun]:
        """The tasks received that have neither succeeded nor failed yet."""
        ended = {run.id for run in self.succeeded + self.not_succeeded}
        return [run for run in self.received if run.id not in ended]

    def without(self, ids: set[str]) -> TaskLog:
        """The same log, less the tasks of these ids (those seen before)."""
        return TaskLog(
            received=[run for run in self.received if run.id not in ids],
            succeeded=[run for run in self.succeeded if run.id not in ids],
            not_succeeded=[run for run in self.not_succeeded if run.id not in ids],
        )


def task_log(workers: list[CeleryProcess]) -> TaskLog:
    log = TaskLog(received=[], succeeded=[], not_succeeded=[])
    for worker in workers:
        for line in _TASK_LINE.finditer(worker.log_text()):
            if line["received"]:
                log.received.append(TaskRun(worker.name, line["name"], line["id"], ""))
            elif line["result"] is not None:
                log.succeeded.append(TaskRun(worker.name, line["name"], line["id"], line["result"]))
            else:
                log.not_succeeded.append(
                    TaskRun(worker.name, line["name"], line["id"], line["other"])
                )
    return log
