"""Connecting to the real ASGI app with Channels' WebsocketCommunicator, and what a refused
connection looks like: every socket accepts, then closes at once with its code (nothing else
sent), so that browsers see the code too (marketplace.core.websocket)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from config.asgi import application

QUIET = 0.3  # seconds to wait before concluding that nothing (more) comes


async def refused_with(path: str, headers: Any = ()) -> int | None:
    """The close code of a refused connection; asserts that the handshake was accepted, that
    the close was the only thing sent and that the consumer joined no group. None if the
    connection stays open (it is closed again)."""
    groups_before = joined_groups()
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect(timeout=5)
    assert connected, "refusals accept first, so that browsers see the close code"
    if await communicator.receive_nothing(timeout=QUIET):
        await communicator.disconnect()
        return None
    output = await communicator.receive_output(timeout=2)
    assert output["type"] == "websocket.close", f"a refused client got data: {output}"
    assert await communicator.receive_nothing(timeout=QUIET)
    assert joined_groups() == groups_before, "a refused client joined a group"
    await communicator.disconnect()
    return int(output["code"])


async def handshake_refused(path: str, headers: Any = ()) -> bool:
    """True when the connection is refused before the handshake (the HTTP 403 of the origin
    check), so that no consumer runs and no close code is given."""
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return not connected


def joined_groups() -> dict[str, set[str]]:
    """The groups (with their member channels) joined in this event loop's Redis Pub/Sub layer."""
    layer: Any = get_channel_layer()
    return {g: set(members) for g, members in layer._get_layer().groups.items() if members}


async def next_frame(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of this type on a real (websockets) client, skipping others."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame  # type: ignore[no-any-return]
