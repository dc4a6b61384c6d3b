"""Sending many channel-layer group messages at once (the live positions of a batch of pings)."""

from __future__ import annotations

from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer


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
