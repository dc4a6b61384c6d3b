"""Matching's lifecycle: a courier accepts an offer (exactly one wins the parcel), declines it,
or lets it expire, and open parcels nobody took expire. Making offers is matching's own
(`matching.services`, run after commit by `matching.tasks`).

Lock order: the parcel first, so when many couriers accept the same parcel at once they queue on
its lock and exactly one finds it still open; then the trip, then the offer.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from marketplace.accounts.models import User
from marketplace.core.languages import in_language_of
from marketplace.core.timezones import local_clock
from marketplace.deliveries import services as deliveries
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import steps
from marketplace.matching import services as matching
from marketplace.matching.models import Offer, OfferStatus
from marketplace.notifications.services import notify
from marketplace.parcels import services as parcels
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.tracking.recipients import recipient_tell
from marketplace.trips import services as trips


@transaction.atomic
def offer_accept(*, offer_id: int, courier: User) -> Delivery:
    """Accept an offer: the parcel is matched, the trip's room reserved, the parcel's other
    offers withdrawn and the delivery created. Others get a ConflictError (409); a retried
    accept by the winner returns the same delivery."""
    offer = matching.offer_of_courier(offer_id=offer_id, courier=courier)
    matching.courier_require_verified(courier)
    parcel = parcels.parcel_lock(offer.parcel_id)
    trip = trips.trip_lock(offer.trip_id)
    offer = matching.offer_lock(offer.pk)
    if offer.status == OfferStatus.ACCEPTED and hasattr(offer, "delivery"):
        return offer.delivery  # a retried accept by the winner changes nothing more
    matching.offer_check_acceptable(
        offer=offer, parcel=parcel, trip=trip, carried=steps.trip_loads(trip)
    )

    parcel = steps.parcel_move(
        parcel=parcel,
        to_status=ParcelStatus.MATCHED,
        actor=courier,
        note=gettext_noop("Accepted by a courier"),
    )
    matching.offer_mark_accepted(offer=offer, parcel=parcel)
    delivery = deliveries.delivery_create(parcel=parcel, trip=trip, offer=offer)
    steps.trip_room_update(trip=trip)
    steps.delivery_assigned_event(delivery)
    recipient_tell(delivery=delivery, event="assigned")
    with in_language_of(parcel.shipper):
        notify(
            user=parcel.shipper,
            kind="parcel_assigned",
            title=gettext("A courier is taking parcel #%(parcel)s") % {"parcel": parcel.pk},
            body=gettext("%(courier)s will pick it up around %(time)s.")
            % {
                "courier": courier.get_short_name(),
                "time": local_clock(delivery.predicted_pickup_at, parcel.shipper),
            },
            data={"parcel_id": parcel.pk, "delivery_id": delivery.pk},
        )
    return delivery


@transaction.atomic
def offer_decline(*, offer_id: int, courier: User) -> Offer:
    """The courier declines: the next courier in line gets the slot (after commit)."""
    offer = matching.offer_decline(offer_id=offer_id, courier=courier)
    steps.match_parcels_on_commit([offer.parcel_id])
    return offer


@transaction.atomic
def offers_expire(*, now: object = None) -> int:
    """Expire pending offers past their time and offer those parcels to the next couriers."""
    expired, parcel_ids = matching.offers_expire_stale(now=now)
    steps.match_parcels_on_commit(parcel_ids)
    return expired


def parcels_expire(*, now: object = None) -> int:
    """Open parcels whose pickup window closed without a taker expire, one transaction each:
    offers withdrawn, the money refunded, the shipper told why."""
    now = now or timezone.now()
    count = 0
    ids = Parcel.objects.filter(status=ParcelStatus.OPEN, pickup_window_end__lte=now).values_list(
        "pk", flat=True
    )
    for parcel_id in ids:
        with transaction.atomic():
            parcel = (
                Parcel.objects.select_for_update(skip_locked=True)
                .filter(pk=parcel_id, status=ParcelStatus.OPEN)
                .first()
            )
            if parcel is None:
                continue
            reason = matching.parcel_expiry_reason(parcel=parcel)
            steps.parcel_move(
                parcel=parcel, to_status=ParcelStatus.EXPIRED, actor=None, note=reason
            )
            matching.offers_withdraw(parcel=parcel)
            steps.refund_on_commit(parcel)
            _notify_expired(parcel)
            count += 1
    return count


def _notify_expired(parcel: Parcel) -> None:
    with in_language_of(parcel.shipper):  # the reason too, in the shipper's words
        reason = matching.parcel_expiry_reason(parcel=parcel)
        notify(
            user=parcel.shipper,
            kind="parcel_expired",
            title=gettext("Your parcel #%(parcel)s expired") % {"parcel": parcel.pk},
            body=gettext(
                "Your parcel '%(description)s' expired without a courier. Why: %(reason)s You can "
                "post it again with a wider pickup window."
            )
            % {"description": parcel.description, "reason": reason},
            data={"parcel_id": parcel.pk},
        )
