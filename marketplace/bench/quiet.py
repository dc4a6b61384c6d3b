"""Quieter benchmarks: chosen loggers at WARNING for the length of a run, then as they were."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand


@contextmanager
def loggers_quiet(*names: str) -> Iterator[None]:
    """Raise the named loggers to WARNING inside the block and give back their own levels."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class QuietCommand(BaseCommand):
    """A benchmark command whose run leaves out the INFO lines of `quiet_loggers`."""

    quiet_loggers: tuple[str, ...] = ("marketplace", "celery")

    def execute(self, *args: Any, **options: Any) -> str | None:
        with loggers_quiet(*self.quiet_loggers):
            return super().execute(*args, **options)
