"""A health-check WebSocket: proves the ASGI stack and the channel layer round-trip."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PingConsumer(AsyncJsonWebsocketConsumer):
    group = "ping"

    async def connect(self) -> None:
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or "ping" not in content:
            await self.send_json({"error": 'send {"ping": <anything>}'})
            return
        # Round-trip through the channel layer, not straight back.
        await self.channel_layer.group_send(self.group, {"type": "pong", "ping": content["ping"]})

    async def pong(self, event: dict[str, Any]) -> None:
        await self.send_json({"pong": event["ping"]})
