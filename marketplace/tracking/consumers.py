"""Live tracking over WebSockets.

/ws/deliveries/<id>/track/  (login: session or JWT)
    The delivery's courier sends pings and gets an ack for each:
        -> {"type": "ping", "lat": 52.52, "lon": 13.40, "accuracy_m": 12, "at": "<ISO 8601>"}
        <- {"type": "ack", "accepted": 1, "rejected": []}
           ({"index": 0, "reason": "..."} per refused ping; reasons in tracking.services)
        Outside pickup..delivery a ping gets the error frame `not_tracking` and is not stored.
    The shipper and staff receive, after a status frame on connect, the courier's positions:
        <- {"type": "status", "status": "in_transit", "status_label": "...", "tracking": true}
        <- {"type": "position", "lat", "lon", "accuracy_m", "at", "eta", "remaining_m"}
       (the latest one at once if the parcel is on its way; none before pickup or after delivery).
    Refused (the socket opens, then closes with the code; see core.websocket): 4401 not logged
    in, 4404 no such delivery, 4403 not this user's delivery.

/ws/track/<token>/  (no login: the recipient's public link)
    <- {"type": "status", "status", "status_label", "tracking", "eta", "eta_live",
        "area": {"lat", "lon", "radius_m"} | null}
    Never the exact position, an address or a name. Unknown token: closed with 4404.

Clients never need to send anything but pings; any other frame gets an error frame.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections, connection

from marketplace.core.exceptions import ApplicationError
from marketplace.core.websocket import CloseCode, JsonConsumer
from marketplace.deliveries.models import Delivery
from marketplace.tracking import selectors
from marketplace.tracking.selectors import Role
from marketplace.tracking.services import (
    PingBatch,
    PingResult,
    pings_record_many,
    public_group,
    track_group,
)


@database_sync_to_async
def _load(delivery_id: int, user: Any) -> tuple[Delivery | None, str | None]:
    delivery = selectors.delivery_for_tracking(delivery_id=delivery_id)
    if delivery is None:
        return None, None
    return delivery, selectors.tracking_role(delivery=delivery, user=user)


@database_sync_to_async
def _opening_frames(delivery_id: int) -> list[dict[str, Any]]:
    delivery = selectors.delivery_for_tracking(delivery_id=delivery_id)
    if delivery is None:
        return []
    frames = [selectors.status_frame(delivery=delivery)]
    position = selectors.live_position_shown(delivery=delivery)
    if position is not None:
        frames.append(selectors.position_frame(position))
    return frames


# --- recording pings: group commit ----------------------------------------------------------
#
# Each ping waits for its ack, but a socket's pings need not wait for other sockets': the pings
# that arrive while a batch is being written are recorded together, in one transaction with a
# fixed number of queries (services.pings_record_many). A lone ping is written at once; under
# load the batches grow by themselves. Up to WRITERS batches are written at the same time, each
# in a writer thread of the recorder's own (Django's connections are per thread, and each
# writer keeps its own), so the rest of the consumers' database work does not queue behind
# them. The positions of a batch are broadcast after its commit, before the acks go out.

WRITERS = 2
BATCH_MAX_PINGS = 500


@dataclass
class _Pending:
    delivery_id: int
    courier_id: int
    ping: dict[str, Any]
    done: asyncio.Future[dict[str, Any]]


def _ping_frames(items: list[tuple[int, int, dict[str, Any]]]) -> list[dict[str, Any] | Exception]:
    """Record (delivery id, courier id, ping) items, one ack or error frame per item (or the
    exception that recording it raised). One batch per delivery; the rare second courier of a
    delivery goes into a second round."""
    frames: list[dict[str, Any] | Exception | None] = [None] * len(items)
    left = list(range(len(items)))
    while left:
        rounds: dict[int, tuple[int, list[int]]] = {}
        later: list[int] = []
        for position in left:
            delivery_id, courier_id, _ = items[position]
            courier, members = rounds.setdefault(delivery_id, (courier_id, []))
            (members if courier == courier_id else later).append(position)
        batches = [
            PingBatch(delivery_id, courier, [items[i][2] for i in members])
            for delivery_id, (courier, members) in rounds.items()
        ]
        groups = [members for _, members in rounds.values()]
        outcomes: list[PingResult | ApplicationError | Exception]
        try:
            outcomes = list(pings_record_many(batches))
        except Exception as exc:
            outcomes = [exc] if len(batches) == 1 else []
        if not outcomes:
            for batch in batches:  # isolate the batch that fails
                try:
                    outcomes.append(pings_record_many([batch])[0])
                except Exception as exc:
                    outcomes.append(exc)
        for members, outcome in zip(groups, outcomes, strict=True):
            for index, position in enumerate(members):
                frames[position] = _frame_for(outcome, index)
        left = later
    return [frame for frame in frames if frame is not None]


def _frame_for(outcome: PingResult | Exception, index: int) -> dict[str, Any] | Exception:
    """The ack (or error frame) of the batch's `index`-th ping, as if it had come alone."""
    if isinstance(outcome, ApplicationError):
        return {"type": "error", "code": outcome.code, "message": outcome.message}
    if isinstance(outcome, Exception):
        return outcome
    rejected = [{**r, "index": 0} for r in outcome.rejected if r["index"] == index]
    return {"type": "ack", "accepted": 0 if rejected else 1, "rejected": rejected}


# A writer that has been idle this long checks its connection before the next batch.
IDLE_CHECK_SECONDS = 1.0
_writer = threading.local()


def _write_in_writer_thread(
    items: list[tuple[int, int, dict[str, Any]]],
) -> list[dict[str, Any] | Exception]:
    """_ping_frames in one of the recorder's writer threads, each of which keeps its database
    connection from batch to batch: database_sync_to_async closes old connections around every
    call, and with CONN_HEALTH_CHECKS each batch then began with a health-check query. Here the
    connection is checked as Django does between requests (close_old_connections, then the
    health check) only after the writer was idle for IDLE_CHECK_SECONDS, when a connection is
    likely to have gone stale; it is closed after an error or once older than CONN_MAX_AGE."""
    if time.monotonic() - getattr(_writer, "last_batch", 0.0) > IDLE_CHECK_SECONDS:
        close_old_connections()
    try:
        return _ping_frames(items)
    finally:
        _writer.last_batch = time.monotonic()
        expired = connection.close_at is not None and time.monotonic() >= connection.close_at
        if connection.errors_occurred or expired:
            connection.close()


class _PingRecorder:
    """The pings waiting to be written in this event loop (one per uvicorn worker)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: list[_Pending] = []
        self.writing = 0
        self.executor = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="ping-writer")
        # SyncToAsync (not a bare run_in_executor): the broadcast after commit goes back to this
        # event loop through async_to_sync, which needs to know the loop.
        self.write = SyncToAsync(
            _write_in_writer_thread, thread_sensitive=False, executor=self.executor
        )

    async def record(self, delivery_id: int, courier_id: int, ping: dict[str, Any]) -> Any:
        done: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.queue.append(_Pending(delivery_id, courier_id, ping, done))
        self._start()
        return await done

    def _start(self) -> None:
        while self.queue and self.writing < WRITERS:
            batch = self.queue[:BATCH_MAX_PINGS]
            del self.queue[:BATCH_MAX_PINGS]
            self.writing += 1
            # A fresh context: the writer outlives the consumer that happened to start it.
            self.loop.create_task(self._write(batch), context=contextvars.Context())

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            frames = await self.write([(p.delivery_id, p.courier_id, p.ping) for p in batch])
        except Exception as exc:
            frames = [exc] * len(batch)
        finally:
            self.writing -= 1
        for pending, frame in zip(batch, frames, strict=True):
            if pending.done.done():
                continue  # the socket went away
            if isinstance(frame, Exception):
                pending.done.set_exception(frame)
            else:
                pending.done.set_result(frame)
        self._start()


_recorders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PingRecorder] = (
    weakref.WeakKeyDictionary()
)


def _recorder() -> _PingRecorder:
    loop = asyncio.get_running_loop()
    recorder = _recorders.get(loop)
    if recorder is None:
        recorder = _recorders[loop] = _PingRecorder(loop)
    return recorder


class DeliveryTrackConsumer(JsonConsumer):
    async def accept_user(self, user: Any) -> None:
        delivery_id = self.scope["url_route"]["kwargs"]["delivery_id"]
        delivery, role = await _load(delivery_id, user)
        if delivery is None:
            await self.refuse(CloseCode.NOT_FOUND)
            return
        if role is None:
            await self.refuse(CloseCode.FORBIDDEN)
            return
        self.user, self.delivery, self.role = user, delivery, role
        watching = role in (Role.SHIPPER, Role.STAFF)
        if watching:
            await self.join(track_group(delivery.pk))
        await self.accept()
        if watching:
            for frame in await _opening_frames(delivery.pk):
                await self.send_json(frame)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content["type"] != "ping":
            await self.send_error("unknown_type", 'Send {"type": "ping", ...}.')
            return
        if self.role != Role.COURIER:
            await self.send_error("not_allowed", "Only the delivery's courier sends positions.")
            return
        ping = {key: value for key, value in content.items() if key != "type"}
        frame = await _recorder().record(self.delivery.pk, self.user.pk, ping)
        await self.send_json(frame)

    async def track_position(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def track_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])


@database_sync_to_async
def _public_opening(token: str) -> tuple[int, dict[str, Any]] | None:
    link = selectors.tracking_link_by_token(token=token)
    if link is None:
        return None
    delivery = link.delivery
    position = selectors.live_position_shown(delivery=delivery)
    return delivery.pk, selectors.public_frame(delivery=delivery, position=position)


class PublicTrackConsumer(JsonConsumer):
    """No login: the unguessable token is the permission."""

    async def connect(self) -> None:
        opening = await _public_opening(self.scope["url_route"]["kwargs"]["token"])
        if opening is None:
            await self.refuse(CloseCode.NOT_FOUND)
            return
        delivery_id, frame = opening
        await self.join(public_group(delivery_id))
        await self.accept()
        await self.send_json(frame)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_error("read_only", "This stream only sends; there is nothing to send.")

    async def track_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
