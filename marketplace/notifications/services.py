"""notify(): store a notification, then after commit push it to the user's live stream
(group `user-<id>`), to their push provider, and for key events by email."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from marketplace.core.languages import in_language_of
from marketplace.core.transactions import run_on_commit, run_on_commit_or_log
from marketplace.notifications import push
from marketplace.notifications.models import Notification

# Kinds that also send an email (templates/notifications/email/<kind>.txt).
EMAIL_KINDS = frozenset(
    {
        "parcel_assigned",
        "parcel_delivered",
        "parcel_expired",
        "courier_arriving",
        "payment_refunded",
        "payout_failed",
    }
)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def notify(
    *, user: Any, kind: str, title: str, body: str = "", data: dict[str, Any] | None = None
) -> Notification:
    notification = Notification.objects.create(
        user=user, kind=kind, title=title[:200], body=body[:1000], data=data or {}
    )
    run_on_commit_or_log(lambda: _broadcast(notification), "notification broadcast")
    run_on_commit(lambda: _deliver(notification))
    return notification


def _broadcast(notification: Notification) -> None:
    frame = {
        "type": "notification",
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
    }
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            user_group(notification.user_id), {"type": "notify", "frame": frame}
        )


def _deliver(notification: Notification) -> None:
    with in_language_of(notification.user):  # the e-mail's own words
        _deliver_in_language(notification)


def _deliver_in_language(notification: Notification) -> None:
    push.provider().send(
        user_id=notification.user_id,
        title=notification.title,
        body=notification.body,
        data=notification.data,
    )
    if notification.kind in EMAIL_KINDS and notification.user.email:
        context = {"notification": notification, "site_url": settings.SITE_URL}
        text = render_to_string(f"notifications/email/{notification.kind}.txt", context)
        send_mail(notification.title, text, None, [notification.user.email], fail_silently=True)


def notifications_mark_read(*, user: Any, ids: list[int]) -> int:
    return Notification.objects.filter(user=user, pk__in=ids, read_at__isnull=True).update(
        read_at=timezone.now()
    )
