"""Side effects that must wait for the surrounding transaction to commit."""

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction


def enqueue_on_commit(task: Any, /, *args: Any, **kwargs: Any) -> None:
    """Send a Celery task once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(task.delay, *args, **kwargs))


def run_on_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func)
