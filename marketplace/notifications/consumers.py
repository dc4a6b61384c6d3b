"""Each user's live stream of events: /ws/notifications/."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from marketplace.core.websocket import JsonConsumer
from marketplace.notifications.services import notifications_mark_read, user_group


class NotificationConsumer(JsonConsumer):
    async def accept_user(self, user: Any) -> None:
        self.user = user
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content["type"] == "read" and isinstance(content.get("ids"), list):
            ids = [i for i in content["ids"] if isinstance(i, int)]
            count = await database_sync_to_async(notifications_mark_read)(user=self.user, ids=ids)
            await self.send_json({"type": "read", "count": count})
        else:
            await self.send_error("unknown_type", 'Send {"type": "read", "ids": [...]}.')

    async def notify(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
