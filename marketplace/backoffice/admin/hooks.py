"""Outbound webhooks in the admin: endpoints (with recent deliveries), events, deliveries with
their attempts; actions to send a test event, redeliver and re-enable."""

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin, ReadOnlyTabularInline
from marketplace.hooks import services
from marketplace.hooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


class RecentDeliveryInline(ReadOnlyTabularInline):
    model = WebhookDelivery
    fields = ("event", "status", "attempts", "last_status_code", "next_attempt_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True
    max_num = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).select_related("event")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "url",
        "merchant",
        "mode",
        "is_active",
        "consecutive_failures",
        "disabled_at",
    ]
    list_filter = ["mode", "is_active"]
    search_fields = ["url", "merchant__name"]
    readonly_fields = ["secret", "consecutive_failures", "disabled_at", "disabled_reason"]
    inlines = [RecentDeliveryInline]
    actions = ["send_test_event", "re_enable"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.action(description="Send a test event")
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.test_event_send(endpoint=endpoint)
        messages.success(request, f"Test events queued for {queryset.count()} endpoint(s).")

    @admin.action(description="Re-enable")
    def re_enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, is_active=True)
        messages.success(request, f"Re-enabled {queryset.count()} endpoint(s).")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "type", "merchant", "parcel", "sequence", "livemode", "created_at"]
    list_filter = ["type", "livemode"]
    search_fields = ["id", "parcel__id"]


class AttemptInline(ReadOnlyTabularInline):
    model = WebhookAttempt
    fields = ("created_at", "status_code", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    list_select_related = ["event", "endpoint"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver now")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            services.redeliver(delivery=delivery)
        messages.success(request, f"Queued {queryset.count()} delivery(ies) again.")
