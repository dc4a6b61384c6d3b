"""Celery tasks of notifications (acks late; a message already sent is not sent again)."""

from __future__ import annotations

from celery import shared_task

from marketplace.notifications.recipient_sending import recipient_message_send


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=30, max_retries=5)
def send_recipient_message(message_id: int) -> str:
    return recipient_message_send(message_id)
