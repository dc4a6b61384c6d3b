from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.backoffice.admin.common import ReadOnlyAdminMixin
from marketplace.matching.models import MatchAttempt, Offer
from marketplace.matching.services import offers_make_for_parcel


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Offers are made and answered by the engine and couriers; admins watch them."""

    list_display = [
        "id",
        "parcel",
        "courier",
        "trip",
        "status",
        "rank",
        "detour_m",
        "predicted_pickup_at",
        "expires_at",
    ]
    list_filter = ["status", "created_at", "expires_at"]
    search_fields = ["parcel__id", "parcel__description", "courier__email"]
    list_select_related = ["parcel", "courier", "trip"]
    date_hierarchy = "created_at"
    actions = ["rematch"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Match these offers' parcels again now")
    def rematch(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        made = sum(
            len(offers_make_for_parcel(parcel_id=pid))
            for pid in sorted(set(queryset.values_list("parcel_id", flat=True)))
        )
        self.message_user(request, f"{made} new offer(s) made.")


@admin.register(MatchAttempt)
class MatchAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """When matching last ran to the end for each parcel and trip (the sweep of lost tasks reads
    it: docs/production.md, "Lost tasks")."""

    list_display = ["id", "parcel", "trip", "attempted_at", "offers_made"]
    list_filter = ["attempted_at"]
    search_fields = ["parcel__id", "trip__id"]
    list_select_related = ["parcel", "trip"]
    date_hierarchy = "attempted_at"

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
