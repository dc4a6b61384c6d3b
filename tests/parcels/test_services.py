from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.core.exceptions import ApplicationError, ConflictError
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.posting import parcel_create, parcel_update
from marketplace.parcels.models import Parcel, ParcelStatus
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, offset, pt
from tests.factories.parcels import make_parcel, parcel_fields

pytestmark = pytest.mark.django_db


def test_create_stores_quote_and_audit_trail(shipper):
    parcel = make_parcel(shipper=shipper)
    assert parcel.status == ParcelStatus.OPEN
    assert parcel.price_total == parcel.platform_fee + parcel.courier_share > 0
    assert parcel.distance_m > 5_000
    assert [(e.from_status, e.to_status) for e in parcel.events.all()] == [
        ("", "draft"),
        ("draft", "open"),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weight_grams": -5}, "weight_grams"),
        ({"weight_grams": 0}, "weight_grams"),
        ({"weight_grams": 250_000}, "weight_grams"),
        ({"size_class": "XXL"}, "size_class"),
        ({"declared_value": -1}, "declared_value"),
        (
            {"pickup_window_end": timezone.now() + timedelta(minutes=30)},
            "pickup_window_end",
        ),
        (
            {
                "delivery_window_start": timezone.now() + timedelta(hours=5),
                "delivery_window_end": timezone.now() + timedelta(hours=4),
            },
            "delivery_window_end",
        ),
        (
            {
                "pickup_window_start": timezone.now() - timedelta(hours=3),
                "pickup_window_end": timezone.now() - timedelta(hours=1),
            },
            "pickup_window_end",
        ),
        ({"dropoff_point": pt(offset(ALEXANDERPLATZ, north_m=10))}, "dropoff_point"),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_stored(shipper, overrides, field):
    with pytest.raises(ApplicationError) as excinfo:
        parcel_create(shipper=shipper, **parcel_fields(**overrides))
    assert field in excinfo.value.fields
    assert Parcel.objects.count() == 0


def test_a_courier_only_user_cannot_post_parcels():
    courier = CourierFactory()
    with pytest.raises(ApplicationError, match="Only shippers"):
        parcel_create(shipper=courier, **parcel_fields())
    assert Parcel.objects.count() == 0


def test_edit_requotes_when_priced_fields_change(shipper):
    parcel = make_parcel(shipper=shipper, weight_grams=1_000)
    old_price = parcel.price_total
    parcel = parcel_update(parcel=parcel, actor=shipper, weight_grams=20_000)
    assert parcel.price_total > old_price
    parcel = parcel_update(parcel=parcel, actor=shipper, description="Renamed")
    parcel.refresh_from_db()
    assert parcel.description == "Renamed"


def test_edit_by_someone_else_is_refused_and_changes_nothing(shipper):
    parcel = make_parcel(shipper=shipper)
    with pytest.raises(ApplicationError, match="not your parcel"):
        parcel_update(parcel=parcel, actor=ShipperFactory(), description="Hijacked")
    parcel.refresh_from_db()
    assert parcel.description == "Box of books"


def test_edit_after_cancel_is_refused(shipper):
    parcel = parcel_cancel(
        parcel=make_parcel(shipper=shipper), actor=shipper, reason="changed plans"
    )
    with pytest.raises(ConflictError, match="only while draft or open"):
        parcel_update(parcel=parcel, actor=shipper, description="Too late")
    parcel.refresh_from_db()
    assert parcel.description == "Box of books"
    assert parcel.events.last().note == "Cancelled by shipper: changed plans"


def test_cancel_by_another_shipper_is_refused(shipper):
    parcel = make_parcel(shipper=shipper)
    with pytest.raises(ApplicationError):
        parcel_cancel(parcel=parcel, actor=ShipperFactory())
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN
