"""Push notifications behind a small interface. The default provider only logs: no network call.
A real one (FCM, APNs, ...) implements `send` and is named in settings.PUSH_PROVIDER."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("marketplace.push")


class PushProvider(Protocol):
    def send(self, *, user_id: int, title: str, body: str, data: dict[str, Any]) -> None: ...


class LoggingPushProvider:
    sent: list[dict[str, Any]] = []  # the last pushes, for tests and the dev console

    def send(self, *, user_id: int, title: str, body: str, data: dict[str, Any]) -> None:
        record = {"user_id": user_id, "title": title, "body": body, "data": data}
        type(self).sent = [*type(self).sent[-99:], record]
        log.info("push to user %s: %s — %s", user_id, title, body)


def provider() -> PushProvider:
    return import_string(settings.PUSH_PROVIDER)()  # type: ignore[no-any-return]
