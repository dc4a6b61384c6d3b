"""core.layers.group_send_many against the real Redis Pub/Sub layer (it reaches into the layer's
internals, so this is the check that an upgrade of channels-redis did not move them)."""

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from marketplace.core.layers import group_send_many


async def _members_receive(layer, messages, groups) -> dict[str, list[int]]:
    channels = {group: await layer.new_channel() for group in groups}
    for group, channel in channels.items():
        await layer.group_add(group, channel)
    try:
        await group_send_many(layer, messages)
        received: dict[str, list[int]] = {}
        for group, channel in channels.items():
            expected = sum(1 for g, _ in messages if g == group)
            received[group] = [(await layer.receive(channel))["n"] for _ in range(expected)]
        return received
    finally:
        for group, channel in channels.items():
            await layer.group_discard(group, channel)


def test_group_send_many_reaches_every_group_in_order_on_the_redis_layer():
    # given two groups with a member each
    layer = get_channel_layer()
    messages = [
        ("layers-a", {"type": "t", "n": 1}),
        ("layers-b", {"type": "t", "n": 2}),
        ("layers-a", {"type": "t", "n": 3}),
    ]

    # when the messages go out in one call
    received = async_to_sync(_members_receive)(layer, messages, ["layers-a", "layers-b"])

    # then each member got its group's messages, in the order sent
    assert received == {"layers-a": [1, 3], "layers-b": [2]}


def test_group_send_many_works_on_other_layers_too():
    layer = InMemoryChannelLayer()
    messages = [("g", {"type": "t", "n": 1}), ("g", {"type": "t", "n": 2})]

    assert async_to_sync(_members_receive)(layer, messages, ["g"]) == {"g": [1, 2]}
