"""The live side of a delivery's conversation: /ws/deliveries/<delivery_id>/chat/.

Connecting (session cookie from the web page, or `?token=<JWT access>` from the app). A refused
connection is accepted and then closed at once with its code, as on every socket (see
core.websocket), so that browsers and apps see the code in their close event:
    4401 not logged in (or a bad token)
    4404 no such delivery
    4403 not the parcel's shipper, the delivery's courier, or staff
    4409 the conversation is closed to new messages (its history stays on the REST endpoint)
Staff connect read-only, and may write while the parcel's payment is disputed.

Frames in (JSON text):
    {"type": "message", "body": "..."}         stored, then broadcast to everyone (sender included)
    {"type": "typing"}                         shown to the others, not stored (at most every 2 s)
    {"type": "read", "message_id": N}          moves the sender's read receipt forward
    Any frame may carry a "ref" (string or number), echoed in an error frame about it.
Frames out:
    {"type": "message", "id", "sender_id", "sender_name", "sender_role", "body", "image_url",
     "created_at"}
    {"type": "typing", "user_id", "name"}
    {"type": "read", "user_id", "message_id"}
    {"type": "conversation", "share_contacts"}  the shipper changed contact sharing: refetch
    {"type": "error", "code", "message", ["fields"], ["details"], ["ref"]}
A malformed or refused frame gets an error frame; the socket stays open, except after
"conversation_closed" (the socket then closes with 4409).

Reconnecting: connect first, then fetch `GET /api/v1/deliveries/<id>/messages/?since_id=<last id
seen>` and drop duplicates by id; nothing sent in between is lost.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from django.utils.translation import gettext

from marketplace.chat import selectors, services
from marketplace.core.exceptions import ApplicationError
from marketplace.core.websocket import CloseCode, JsonConsumer

TYPING_EVERY_SECONDS = 2.0
MAX_ID = 2**63 - 1  # message ids are bigints


def _connect_check(delivery_id: int, user: Any) -> CloseCode | None:
    """The close code refusing this user, or None to let them in."""
    delivery = selectors.chat_delivery(delivery_id=delivery_id)
    if delivery is None:
        return CloseCode.NOT_FOUND
    access = selectors.chat_access(delivery=delivery, user=user)
    if access is None:
        return CloseCode.FORBIDDEN
    if not access.is_live:
        return CloseCode.CLOSED
    return None


def _delivery(delivery_id: int) -> Any:
    delivery = selectors.chat_delivery(delivery_id=delivery_id)
    if delivery is None:  # deliveries are never deleted; be safe anyway
        raise ApplicationError(gettext("No such conversation."), code="not_found")
    return delivery


def _post(delivery_id: int, user: Any, body: str) -> None:
    services.message_post(delivery=_delivery(delivery_id), sender=user, body=body)


def _read(delivery_id: int, user: Any, message_id: int) -> None:
    services.messages_mark_read(delivery=_delivery(delivery_id), user=user, message_id=message_id)


def _typing_refusal(delivery_id: int, user: Any) -> ApplicationError | None:
    access = selectors.chat_access(delivery=_delivery(delivery_id), user=user)
    if access is None:
        return ApplicationError(gettext("No such conversation."), code="not_found")
    return access.refusal()


class ChatConsumer(JsonConsumer):
    async def accept_user(self, user: Any) -> None:
        self.user = user
        self.delivery_id = int(self.scope["url_route"]["kwargs"]["delivery_id"])
        self.last_typing = 0.0
        self.ref: str | int | None = None
        code = await database_sync_to_async(_connect_check)(self.delivery_id, user)
        if code is not None:
            await self.refuse(code)
            return
        self.group = selectors.chat_group(self.delivery_id)
        await self.join(self.group)
        await self.accept()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        self.ref = None
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        ref = content.get("ref")
        self.ref = ref if isinstance(ref, str | int) and not isinstance(ref, bool) else None
        kind = content["type"]
        if kind == "message":
            await self._message(content)
        elif kind == "typing":
            await self._typing()
        elif kind == "read":
            await self._read(content)
        else:
            await self.send_error(
                "unknown_type", 'A frame\'s "type" is "message", "typing" or "read".'
            )

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        if getattr(self, "ref", None) is not None:
            extra["ref"] = self.ref
        await super().send_error(code, message, **extra)

    async def _refused(self, exc: ApplicationError) -> None:
        extra: dict[str, Any] = {}
        if exc.fields:
            extra["fields"] = exc.fields
        if exc.extra:
            extra["details"] = exc.extra
        await self.send_error(exc.code, exc.message, **extra)
        if exc.code == "conversation_closed":
            await self.close(code=CloseCode.CLOSED)

    async def _message(self, content: dict[str, Any]) -> None:
        body = content.get("body")
        if not isinstance(body, str):
            await self.send_error("bad_frame", 'A "message" frame has a "body" string.')
            return
        try:
            await database_sync_to_async(_post)(self.delivery_id, self.user, body)
        except ApplicationError as exc:
            await self._refused(exc)

    async def _typing(self) -> None:
        now = time.monotonic()
        if now - self.last_typing < TYPING_EVERY_SECONDS:
            return  # already told the others a moment ago
        refusal = await database_sync_to_async(_typing_refusal)(self.delivery_id, self.user)
        if refusal is not None:
            await self._refused(refusal)
            return
        self.last_typing = now
        frame = {"type": "typing", "user_id": self.user.pk, "name": self.user.get_short_name()}
        await self.channel_layer.group_send(self.group, {"type": "chat.typing", "frame": frame})

    async def _read(self, content: dict[str, Any]) -> None:
        message_id = content.get("message_id")
        if (
            not isinstance(message_id, int)
            or isinstance(message_id, bool)
            or not 1 <= message_id <= MAX_ID
        ):
            await self.send_error("bad_frame", 'A "read" frame has a positive "message_id".')
            return
        try:
            await database_sync_to_async(_read)(self.delivery_id, self.user, message_id)
        except ApplicationError as exc:
            await self._refused(exc)

    # --- events from the group --------------------------------------------------------------
    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def chat_read(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def chat_conversation(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["frame"]["user_id"] != self.user.pk:
            await self.send_json(event["frame"])
