"""The chat page of a delivery (/deliveries/<id>/chat/): its history, a form that works without
JavaScript, and the live panel (static/js/chat.js) on /ws/deliveries/<id>/chat/."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.chat import selectors, services
from marketplace.chat.selectors import COURIER, SHIPPER, ChatAccess
from marketplace.core.exceptions import ApplicationError
from marketplace.deliveries.models import Delivery

PAGE_MESSAGES = 50


def _get(request: HttpRequest, delivery_id: int) -> tuple[Delivery, ChatAccess]:
    """The delivery and the user's access; 404 for anyone who is not a party or staff."""
    delivery = selectors.chat_delivery(delivery_id=delivery_id)
    if delivery is not None:
        access = selectors.chat_access(delivery=delivery, user=request.user)
        if access is not None:
            return delivery, access
    raise Http404("No such conversation.")


def _page_url(delivery_id: int) -> str:
    return reverse("chat:delivery_chat", args=[delivery_id])


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def delivery_chat(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery, access = _get(request, delivery_id)
    if request.method == "POST":  # the form without JavaScript (chat.js posts over the socket)
        try:
            services.message_post(
                delivery=delivery,
                sender=request.user,
                body=request.POST.get("body", ""),
                image=request.FILES.get("image"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect(_page_url(delivery.pk) + "#chat-form")

    rows, has_older = selectors.messages_latest(delivery=delivery, limit=PAGE_MESSAGES)
    conversation = selectors.conversation_of(delivery=delivery)
    share = bool(conversation and conversation.share_contacts)
    read_ids = selectors.last_read_ids(delivery=delivery)
    user_id = request.user.pk
    others = [uid for uid in (delivery.parcel.shipper_id, delivery.courier_id) if uid != user_id]
    # How far the other party has read (for "Seen" under my messages).
    other_read = max((read_ids.get(uid, 0) for uid in others), default=0)
    context: dict[str, Any] = {
        "delivery": delivery,
        "parcel": delivery.parcel,
        "access": access,
        "chat_messages": [
            {
                **selectors.message_data(m, delivery=delivery, share_contacts=share),
                "created": m.created_at,
            }
            for m in rows
        ],
        "has_older": has_older,
        "share_contacts": share,
        "other_name": _other_name(delivery, access),
        "other_read": other_read,
        "ws_path": f"/ws/deliveries/{delivery.pk}/chat/",
        "messages_url": reverse("api-delivery-messages", args=[delivery.pk]),
        "read_url": reverse("api-delivery-messages-read", args=[delivery.pk]),
        "max_length": settings.CHAT_MAX_LENGTH,
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "max_upload_mb": f"{settings.MAX_UPLOAD_BYTES / (1024 * 1024):g}",
        "back_url": (
            reverse("web:parcel_detail", args=[delivery.parcel_id])
            if access.role == SHIPPER or request.user.is_staff
            else None
        ),
    }
    return render(request, "chat/delivery_chat.html", context)


def _other_name(delivery: Delivery, access: ChatAccess) -> str:
    if access.role == SHIPPER:
        return f"{delivery.courier.get_short_name()} (your courier)"
    if access.role == COURIER:
        return f"{delivery.parcel.shipper.get_short_name()} (the shipper)"
    return (
        f"{delivery.parcel.shipper.get_short_name()} (shipper) and "
        f"{delivery.courier.get_short_name()} (courier)"
    )


@login_required
@require_POST
def delivery_chat_contacts(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """The shipper's switch: show or hide phone numbers and emails in the conversation."""
    delivery, _access = _get(request, delivery_id)
    share = request.POST.get("share_contacts") == "1"
    try:
        services.conversation_set_share_contacts(delivery=delivery, actor=request.user, share=share)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            gettext("Phone numbers and emails are now shown in this conversation.")
            if share
            else gettext("Phone numbers and emails are hidden again in this conversation."),
        )
    return redirect(_page_url(delivery.pk))
