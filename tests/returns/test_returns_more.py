"""Returns: races, the courier's offer marked "return", and the policy's start-up check."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from rest_framework.test import APIClient

from marketplace.core.exceptions import ConflictError
from marketplace.lifecycle import returning
from marketplace.parcels.models import Parcel
from marketplace.returns.models import ParcelReturn
from tests.concurrency import race
from tests.returns.helpers import delivered_parcel, westward_trip


@pytest.mark.django_db(transaction=True)
def test_the_shipper_and_the_recipient_asking_at_once_make_one_return():
    original, _ = delivered_parcel()
    parcels_before = Parcel.objects.count()

    results, errors = race(
        [
            lambda: returning.return_request(
                parcel=original, actor=original.shipper, reason_code="damaged"
            ),
            lambda: returning.return_request_by_recipient(parcel=original, reason_code="damaged"),
            lambda: returning.return_request(
                parcel=original, actor=original.shipper, reason_code="damaged"
            ),
        ]
    )

    assert len(results) == 1, errors
    assert len(errors) == 2 and all(isinstance(e, ConflictError) for e in errors)
    assert ParcelReturn.objects.filter(original=original).count() == 1
    assert Parcel.objects.count() == parcels_before + 1  # one reverse parcel, no orphans


@pytest.mark.django_db
def test_the_courier_sees_the_way_back_as_an_offer_marked_return():
    original, _ = delivered_parcel()
    trip_back = westward_trip()
    parcel_return = returning.return_request(
        parcel=original, actor=original.shipper, reason_code="damaged"
    )
    from marketplace.matching.services import offers_make_for_parcel

    offers_make_for_parcel(parcel_id=parcel_return.reverse_id)
    client = APIClient()
    client.force_authenticate(trip_back.courier)
    offers = client.get("/api/v1/courier/offers/").json()["results"]
    assert [o["parcel"]["id"] for o in offers] == [parcel_return.reverse_id]
    assert offers[0]["parcel"]["is_return"] is True
    open_parcels = client.get("/api/v1/courier/open-parcels/").json()["results"]
    assert {p["id"]: p["is_return"] for p in open_parcels}[parcel_return.reverse_id] is True


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("RETURN_FEE_PAYER", "recipient", "returns.E001"),
        ("RETURN_REFUND_ORIGINAL", "everything", "returns.E002"),
        ("RETURN_WINDOW_DAYS", -1, "returns.E003"),
    ],
)
def test_an_unknown_returns_policy_stops_the_start(settings, name, value, check_id):
    setattr(settings, name, value)
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")
