"""Conversations for staff: read-only, with the messages as written (unmasked: staff looking into
a dispute need what was really said). Staff write in a conversation from its chat page, which
lets them post while the parcel's payment is disputed."""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin, ReadOnlyTabularInline
from marketplace.chat.models import Conversation, Message, ReadReceipt


class MessageInline(ReadOnlyTabularInline):
    model = Message
    fields = ("created_at", "sender", "body", "image")
    readonly_fields = ("created_at", "sender", "body", "image")
    ordering = ["id"]


class ReadReceiptInline(ReadOnlyTabularInline):
    model = ReadReceipt
    fields = ("user", "last_read_message_id", "updated_at")
    readonly_fields = ("user", "last_read_message_id", "updated_at")


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["delivery", "share_contacts", "message_count", "created_at", "chat_page"]
    list_filter = ["share_contacts", "created_at"]
    search_fields = ["delivery__id", "delivery__parcel__id", "messages__body"]
    list_select_related = ["delivery"]
    readonly_fields = ["delivery", "share_contacts", "created_at", "updated_at", "chat_page"]
    inlines = [MessageInline, ReadReceiptInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(description="Messages", ordering="message_count")
    def message_count(self, obj: Any) -> int:
        return int(obj.message_count)

    @admin.display(description="Chat page")
    def chat_page(self, obj: Conversation) -> str:
        url = reverse("chat:delivery_chat", args=[obj.delivery_id])
        return format_html('<a href="{}">Open the chat page</a>', url)
