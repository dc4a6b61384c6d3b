"""Side effects that must wait for the surrounding transaction to commit."""

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_on_commit(task: Any, /, *args: Any, **kwargs: Any) -> None:
    """Send a Celery task once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(task.delay, *args, **kwargs))


def enqueue_on_commit_or_log(task: Any, /, *args: Any) -> None:
    """Send a Celery task once the transaction commits, logging (not raising) a failure to
    send it, or, where tasks run eagerly, a failure of the task itself. For callers that have
    stored everything the task needs and must answer whatever the task does (a sweep retries
    what did not run)."""

    def send() -> None:  # a named function: Django's log line reads its __qualname__
        task.delay(*args)

    transaction.on_commit(send, robust=True)


def run_on_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func)


def run_on_commit_or_log(func: Callable[[], Any], /, what: str) -> None:
    """Run `func` once the transaction commits, logging (not raising) its failure. For side
    effects of what is already stored, such as WebSocket broadcasts while Redis is down: they
    must neither fail the request that stored it (a 500 makes a client retry what succeeded)
    nor stop the commit hooks after them; clients catch up from the database."""

    def run() -> None:
        try:
            func()
        except Exception as exc:
            log.warning("%s failed after commit: %s: %s", what, type(exc).__name__, exc)

    transaction.on_commit(run)


def files_delete_on_commit(files: list[Any]) -> None:
    """Delete stored files (FieldFiles) after commit: a rollback keeps the rows that name them."""
    named = [(file.storage, file.name) for file in files if file and file.name]

    def delete() -> None:
        for storage, name in named:
            storage.delete(name)

    if named:
        transaction.on_commit(delete)
