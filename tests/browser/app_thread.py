"""Run the app's side of a browser test (services: matching, offers, deliveries, payments) in a
thread of its own, as the server would.

Playwright's sync API keeps an asyncio event loop running in the test's thread, and asgiref's
`async_to_sync` (which the services use to push notifications over the channel layer) refuses to
run in a thread with a running loop. The page fixture uses a transactional database, so what the
thread commits is what the live server and the test see.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")


def in_app_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`in_app_thread(offer_accept, offer_id=..., courier=...)`: call it off the test's thread and
    return its result (or raise its exception)."""

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()
