"""WebSocket plumbing shared by the live features (chat, tracking, notifications).

Authentication: browsers use the session cookie; mobile apps send the same JWT access token as
the REST API, as `?token=<access>` or an `Authorization: Bearer <access>` header. Origin: a
browser always sends `Origin`, which must be an allowed host; a connection without `Origin` (a
mobile app) is accepted only with a valid token, so a cross-site page cannot ride a cookie.

Refusing: a consumer that turns a client away accepts the handshake and then closes at once with
its code (JsonConsumer.refuse; a close before the accept does the same). A refusal before the
handshake reaches a script in a browser only as code 1006 (the server answers HTTP 403 and the
browser hides why), so every socket opens first and closes with one of these codes. A refused
client never joins a group and is sent nothing but the close; its frames are ignored.

The one refusal left at the handshake is the origin check (OriginOrTokenValidator): a page from
another site, or a client with neither Origin nor token, gets HTTP 403 and never reaches a
consumer. That is deliberate: the close codes would tell a foreign page whether its visitor is
logged in here (4401 or not) and which deliveries exist (4403 or 4404).

Close codes (documented in docs/live.md):
    4400 bad request (e.g. a malformed path parameter)
    4401 not authenticated
    4403 not allowed (not a party of this delivery, or the feature is not open to you now)
    4404 no such object
    4409 closed (e.g. a conversation closed to new messages)
    1013 try again later: the channel layer (Redis) is unreachable. A socket open when Redis goes
         is closed with it within about LAYER_CHECK_SECONDS, and new ones are accepted and closed
         with it until Redis is back; what was stored meanwhile is fetched from the REST API
         (chat: `since_id`), since broadcasts are lost while Redis is down.
A malformed frame never closes the socket: it gets an error frame `{"type": "error", ...}`.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from enum import IntEnum
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.core import metrics
from marketplace.core.json_input import JSONInputError, loads_bounded
from marketplace.core.layers import LAYER_ERRORS, layer_watch

log = logging.getLogger(__name__)


class CloseCode(IntEnum):
    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    CLOSED = 4409
    TRY_AGAIN_LATER = 1013  # RFC 6455's registry: the channel layer (Redis) is unreachable


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode())
    if query.get("token"):
        return query["token"][0]
    auth = _header(scope, b"authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


@database_sync_to_async
def _user_from_token(raw: str) -> Any:
    from django.contrib.auth import get_user_model

    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        return None
    return get_user_model().objects.filter(pk=token.get("user_id"), is_active=True).first()


class JwtAuthMiddleware:
    """Puts the JWT's user in scope["user"] when a token is given (over any session user)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw = _token(scope)
        scope = dict(scope)
        scope["token_given"] = raw is not None
        if raw is not None:
            scope["user"] = await _user_from_token(raw) or AnonymousUser()
        return await self.app(scope, receive, send)


class OriginOrTokenValidator:
    """Browsers must come from an allowed host; clients without Origin must bring a token."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = _header(scope, b"origin")
        if origin is None:
            allowed = _token(scope) is not None
        else:
            host = origin.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            allowed = validate_host(host, settings.ALLOWED_HOSTS)
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


def websocket_stack(router: Any) -> Any:
    return OriginOrTokenValidator(AuthMiddlewareStack(JwtAuthMiddleware(router)))


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """Base consumer: authenticated users only; refusals accepted then closed with their code;
    groups joined through `join` and left on disconnect; bad frames answered, never fatal."""

    accepted = False
    refused = False
    counted = False  # in waypost_websocket_connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        self.connect_received = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' consumer, except that a channel-layer call that fails (Redis is down:
        making the socket's channel, joining a group, sending typing) closes the socket with
        1013 rather than failing the handshake with HTTP 500 or dropping the connection
        without a close frame."""
        try:
            await super().__call__(scope, receive, send)
        except LAYER_ERRORS as exc:
            name = type(exc).__name__
            log.warning("channel layer unavailable, closing with 1013: %s: %s", name, exc)
            if not self.connect_received and (await receive())["type"] != "websocket.connect":
                return
            if not self.accepted:
                self.accepted = True
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CloseCode.TRY_AGAIN_LATER})
            with suppress(StopConsumer):
                await self.websocket_disconnect({"code": CloseCode.TRY_AGAIN_LATER})

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.connect_received = True
        await super().websocket_connect(message)

    async def layer_lost(self) -> None:
        """Called by the layer's watch when Redis stops answering (core.layers.LayerWatch)."""
        await self.close(code=CloseCode.TRY_AGAIN_LATER)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CloseCode.UNAUTHENTICATED)
            return
        await self.accept_user(user)

    async def accept_user(self, user: Any) -> None:
        await self.accept()

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        if self.refused:
            return
        self.accepted = True
        await super().accept(subprotocol=subprotocol, headers=headers)
        self.counted = True
        metrics.WEBSOCKETS.labels(consumer=type(self).__name__).inc()

    async def refuse(self, code: int) -> None:
        """Turn the client away with `code`: open the socket, then close it at once (see the
        module docstring). Call it instead of joining groups or sending anything."""
        if self.refused:
            return
        if self.joined:
            raise RuntimeError("Refuse before joining a group.")
        if not self.accepted:
            self.accepted = True
            await super().accept()
        self.refused = True
        await super().close(code=code)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if not self.accepted and code not in (None, True):
            await self.refuse(int(code))  # before the handshake: a refusal
            return
        await super().close(code=code, reason=reason)

    async def join(self, group: str) -> None:
        """Join a channel-layer group; it is left on disconnect."""
        if self.refused:
            raise RuntimeError("A refused client joins no group.")
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)
        watch = layer_watch()
        if watch is not None:
            watch.add(self, self.layer_lost)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its `aclose_old_connections()` before every message: that
        is a hop to the one shared sync thread (and back) for each frame in and each group event
        out, which capped the live throughput. Our consumers reach the database only through
        database_sync_to_async, which closes old connections around each call itself (and so
        does websocket_disconnect, once per socket)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self.counted:
            self.counted = False
            metrics.WEBSOCKETS.labels(consumer=type(self).__name__).dec()
        watch = layer_watch() if self.joined else None
        if watch is not None:
            watch.discard(self)
        for group in self.joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except LAYER_ERRORS as exc:  # left in this process all the same
                log.warning("channel layer unavailable, leaving %s: %s", group, exc)
        self.joined = []
        await super().websocket_disconnect(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        if self.refused:
            return  # nothing but the close reaches a refused client
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.refused:
            return  # frames sent before the close arrived
        if text_data is None:
            await self.send_error("bad_frame", "Send JSON text frames.")
            return
        try:
            content = loads_bounded(text_data)
        except JSONInputError as exc:
            await self.send_error("bad_frame", f"That frame is not usable JSON: {exc}")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("bad_frame", 'A frame is a JSON object with a "type".')
            return
        await self.receive_json(content)

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})
