from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.matching.models import Offer, OfferStatus


def offers_of_courier(*, courier: User, status: str | None = None) -> QuerySet[Offer]:
    """A courier's offers. By default the ones they can still act on."""
    qs = Offer.objects.filter(courier=courier).select_related("parcel", "trip")
    if status:
        return qs.filter(status=status).order_by("-created_at")
    return qs.filter(status=OfferStatus.PENDING, expires_at__gt=timezone.now()).order_by(
        "expires_at", "rank"
    )
