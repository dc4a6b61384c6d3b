"""Each user's live stream of events: /ws/notifications/ (not logged in: closed with 4401)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from marketplace.core.websocket import JsonConsumer
from marketplace.notifications.services import notifications_mark_read, user_group


class NotificationConsumer(JsonConsumer):
    async def accept_user(self, user: Any) -> None:
        self.user = user
        await self.join(user_group(user.pk))
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content["type"] == "read" and isinstance(content.get("ids"), list):
            ids = [i for i in content["ids"] if isinstance(i, int)]
            count = await database_sync_to_async(notifications_mark_read)(user=self.user, ids=ids)
            await self.send_json({"type": "read", "count": count})
        else:
            await self.send_error("unknown_type", 'Send {"type": "read", "ids": [...]}.')

    async def notify(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
