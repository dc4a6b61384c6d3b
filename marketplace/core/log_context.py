"""Structured logs: one line per request and per Celery task, each log line carrying the request
id, the user id and, where the URL names one, the parcel or delivery id.

- RequestLogMiddleware takes the request id from `X-Request-ID` (a proxy's) or makes one, sends
  it back in the response's `X-Request-ID`, and logs `request` with method, path, status,
  duration_ms, user_id (logger `marketplace.request`).
- Celery's task_prerun/task_postrun log `task` with its name, id, state and duration_ms (logger
  `marketplace.task`); lines logged inside a task carry its task_id.
- ContextFilter (on the handler) copies the current ids onto every record, so the JSON formatter
  (production, LOG_FORMAT=json) writes them as fields and the plain one can show them.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery import signals
from django.http import HttpRequest, HttpResponse

from marketplace.core import metrics

request_log = logging.getLogger("marketplace.request")
task_log = logging.getLogger("marketplace.task")

CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)
FIELDS = ("request_id", "user_id", "parcel_id", "delivery_id", "task_id")
# A proxy's request id is kept if it looks like one (no log injection).
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# URL names (api and web) whose `pk` is a parcel's or a delivery's id.
SUBJECTS = (("parcel", "parcel_id"), ("deliver", "delivery_id"))


def context_set(**values: Any) -> None:
    current = dict(CONTEXT.get() or {})
    current.update({k: v for k, v in values.items() if v is not None})
    CONTEXT.set(current)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = CONTEXT.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        token = CONTEXT.set({"request_id": request_id})
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            CONTEXT.reset(token)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        match = request.resolver_match
        name = (match.url_name or "") if match else ""
        pk = kwargs.get("pk") or kwargs.get("parcel_id") or kwargs.get("delivery_id")
        for word, field in SUBJECTS:
            if pk is not None and word in name:
                context_set(**{field: str(pk)})
                break

    @staticmethod
    def _log(request: HttpRequest, status: int, started: float) -> None:
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        context_set(user_id=user_id)
        request_log.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_start(task_id: str | None = None, **_: Any) -> None:
    CONTEXT.set({"task_id": task_id})
    if task_id:
        _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_end(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    started = _task_started.pop(task_id or "", None)
    seconds = time.perf_counter() - started if started else None
    duration = round(seconds * 1000, 1) if seconds is not None else None
    name = getattr(task, "name", "?")
    metrics.task_finished(task=name, state=state, seconds=seconds)
    task_log.info(
        "task %s %s",
        name,
        state,
        extra={"task": name, "state": state, "duration_ms": duration},
    )
    CONTEXT.set(None)
