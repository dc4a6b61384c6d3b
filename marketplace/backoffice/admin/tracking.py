from django.contrib import admin

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin
from marketplace.tracking.models import LivePosition, LocationPing, TrackingLink


@admin.register(LocationPing)
class LocationPingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the courier's app only; deleted by the retention task."""

    list_display = ["delivery", "device_time", "received_at", "accuracy_m", "speed_mps"]
    list_filter = ["received_at"]
    search_fields = ["delivery__id"]
    list_select_related = ["delivery"]
    date_hierarchy = "device_time"


@admin.register(LivePosition)
class LivePositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["delivery", "device_time", "remaining_m", "eta", "arriving_notified_at"]
    search_fields = ["delivery__id"]
    list_select_related = ["delivery"]


@admin.register(TrackingLink)
class TrackingLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["delivery", "created_at"]
    search_fields = ["delivery__id"]
    list_select_related = ["delivery"]
    exclude = ["token"]  # the token is the recipient's key: not shown around the office
