"""The returns queue: filter by status, who asked and why; approve, refuse with a reason, or
refund the original order."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from marketplace.backoffice.admin.common import ReadOnlyTabularInline, admin_user
from marketplace.core.exceptions import ApplicationError
from marketplace.lifecycle import returning
from marketplace.returns.models import ParcelReturn, ReturnEvent, ReturnPhoto


class ReturnPhotoInline(ReadOnlyTabularInline):
    model = ReturnPhoto
    readonly_fields = ("preview", "created_at")
    fields = readonly_fields

    @admin.display(description="Photo")
    def preview(self, obj: ReturnPhoto) -> str:
        return format_html('<img src="{}" style="max-height:160px">', obj.image.url)


class ReturnEventInline(ReadOnlyTabularInline):
    model = ReturnEvent
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "note")
    fields = readonly_fields


@admin.register(ParcelReturn)
class ParcelReturnAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_link",
        "reverse_link",
        "status",
        "requested_by",
        "reason_code",
        "short_reason",
        "paid_by",
        "created_at",
    ]
    list_filter = ["status", "requested_by", "reason_code", "paid_by", "created_at"]
    search_fields = ["original__id", "reverse__id", "reason", "original__shipper__email"]
    readonly_fields = [f.name for f in ParcelReturn._meta.fields]
    list_select_related = ["original", "reverse"]
    inlines = [ReturnPhotoInline, ReturnEventInline]
    actions = ["approve", "refuse", "refund_original"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Original")
    def original_link(self, obj: ParcelReturn) -> str:
        url = reverse("admin:parcels_parcel_change", args=[obj.original_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.original_id, obj.original.status)

    @admin.display(description="Way back")
    def reverse_link(self, obj: ParcelReturn) -> str:
        url = reverse("admin:parcels_parcel_change", args=[obj.reverse_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.reverse_id, obj.reverse.status)

    @admin.display(description="Reason")
    def short_reason(self, obj: ParcelReturn) -> str:
        return obj.reason[:60]

    def _each(self, request: HttpRequest, queryset: QuerySet[ParcelReturn], do: Any) -> None:
        for parcel_return in queryset:
            try:
                do(parcel_return)
            except ApplicationError as exc:
                messages.error(request, f"Return {parcel_return.pk}: {exc.message}")
            else:
                messages.success(request, f"Return {parcel_return.pk}: done.")

    @admin.action(description="Approve the selected returns")
    def approve(self, request: HttpRequest, queryset: QuerySet[ParcelReturn]) -> None:
        self._each(
            request,
            queryset,
            lambda r: returning.return_approve(parcel_return=r, actor=admin_user(request)),
        )

    @admin.action(description="Refuse the selected returns (with a reason)…")
    def refuse(self, request: HttpRequest, queryset: QuerySet[ParcelReturn]) -> HttpResponse | None:
        reason = request.POST.get("refusal_reason", "").strip()
        if "apply" in request.POST and reason:
            self._each(
                request,
                queryset,
                lambda r: returning.return_refuse(
                    parcel_return=r, actor=admin_user(request), reason=reason
                ),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Refuse returns",
            "returns": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "missing_reason": "apply" in request.POST,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/returns/refuse.html", context)

    @admin.action(description="Refund the original order (in full if it failed, else the fee)")
    def refund_original(self, request: HttpRequest, queryset: QuerySet[ParcelReturn]) -> None:
        self._each(
            request,
            queryset,
            lambda r: returning.return_refund_original(parcel_return=r, actor=admin_user(request)),
        )
