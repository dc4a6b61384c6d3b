from django.contrib import admin

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin
from marketplace.notifications.models import Notification, RecipientMessage


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "kind", "title", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "title"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(RecipientMessage)
class RecipientMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What recipients were sent (e-mail, text), and failures with their error."""

    list_display = ["parcel_id", "event", "channel", "to", "sent_at", "attempts", "error"]
    list_filter = ["event", "channel", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["parcel_id", "to"]
    date_hierarchy = "created_at"
