"""Text messages behind a small interface, beside push (notifications.push). The default
provider only logs: no network call. A real one (Twilio, MessageBird, ...) implements `send` and
is named in settings.SMS_PROVIDER."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("marketplace.sms")


class SmsProvider(Protocol):
    def send(self, *, to: str, body: str) -> None: ...


class LoggingSmsProvider:
    sent: list[dict[str, Any]] = []  # the last messages, for tests and the dev console

    def send(self, *, to: str, body: str) -> None:
        type(self).sent = [*type(self).sent[-99:], {"to": to, "body": body}]
        log.info("sms to %s: %s", to, body)


def provider() -> SmsProvider:
    return import_string(settings.SMS_PROVIDER)()  # type: ignore[no-any-return]
