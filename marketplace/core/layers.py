"""Sending many channel-layer group messages at once (the live positions of a batch of pings),
and watching the layer's Redis from each event loop (LayerWatch)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import create_pool, decode_hosts
from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a channel-layer call raises when its Redis is down or does not answer.
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
# How often an event loop with open sockets checks that the layer's Redis answers, and how long
# it waits for the answer.
LAYER_CHECK_SECONDS = 1.0
LAYER_CHECK_TIMEOUT = 2.0


async def group_send_many(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """group_send each (group, message), in order.

    On channels-redis's Pub/Sub layer the messages go out as one Redis pipeline per shard: one
    write and one reply for the lot, where group_send takes the shard's lock and waits for a
    reply per message (and each write to Redis costs the sender a system call). This reaches
    into the layer as group_send itself does (channels-redis 4.3: the loop's layer, the group's
    channel name and shard, the shard's lock and client); tests/core/test_layers.py checks it
    against the real layer. Any other layer gets one group_send after the other.
    """
    if not messages:
        return
    if not isinstance(layer, RedisPubSubChannelLayer):
        for group, message in messages:
            await layer.group_send(group, message)
        return
    loop_layer = layer._get_layer()
    by_shard: dict[Any, list[tuple[str, bytes]]] = {}
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        shard = loop_layer._get_shard(channel)
        by_shard.setdefault(shard, []).append((channel, layer.serialize(message)))
    for shard, items in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            pipe = shard._redis.pipeline(transaction=False)
            for channel, payload in items:
                pipe.publish(channel, payload)
            await pipe.execute()


class LayerWatch:
    """The sockets of one event loop (a uvicorn worker) that joined channel-layer groups, and,
    while there are any, a task that pings the layer's Redis every LAYER_CHECK_SECONDS. When
    Redis does not answer, every one of them is told (`on_lost`) and forgotten: broadcasts are
    lost until Redis is back, so their clients should reconnect and fetch what they missed from
    the database rather than wait on a socket that receives nothing. Only for channels-redis's
    layers; the in-memory layer cannot fail."""

    def __init__(self, hosts: list[Any]) -> None:
        self.members: weakref.WeakKeyDictionary[Any, Callable[[], Awaitable[None]]] = (
            weakref.WeakKeyDictionary()
        )
        self.hosts = decode_hosts(hosts)
        self.task: asyncio.Task[None] | None = None

    def add(self, member: Any, on_lost: Callable[[], Awaitable[None]]) -> None:
        self.members[member] = on_lost
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, member: Any) -> None:
        self.members.pop(member, None)

    async def _answers(self, client: aioredis.Redis) -> bool:
        try:
            async with asyncio.timeout(LAYER_CHECK_TIMEOUT):
                await client.ping()
        except LAYER_ERRORS:
            return False
        return True

    async def _run(self) -> None:
        clients = [aioredis.Redis(connection_pool=create_pool(host)) for host in self.hosts]
        try:
            while self.members:
                await asyncio.sleep(LAYER_CHECK_SECONDS)
                if all([await self._answers(client) for client in clients]):
                    continue
                lost = list(self.members.items())
                self.members.clear()
                log.warning("channel layer's Redis does not answer: closing %d sockets", len(lost))
                for _, on_lost in lost:
                    try:
                        await on_lost()
                    except Exception:  # the socket may be gone already
                        log.debug("closing a socket after the layer was lost", exc_info=True)
        finally:
            self.task = None
            for client in clients:
                await client.aclose()


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerWatch] = (
    weakref.WeakKeyDictionary()
)


def layer_watch() -> LayerWatch | None:
    """This event loop's watch of the default layer, or None if it is not channels-redis's."""
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    if not str(config.get("BACKEND", "")).startswith("channels_redis."):
        return None
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = LayerWatch(config.get("CONFIG", {}).get("hosts", []))
    return watch
