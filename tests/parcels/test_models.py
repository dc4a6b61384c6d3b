from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from marketplace.parcels.models import Parcel
from tests.factories.parcels import make_parcel


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("update", "constraint"),
    [
        ({"pickup_window_end": F("pickup_window_start")}, "parcel_pickup_window_order"),
        (
            {"delivery_window_end": F("delivery_window_start") - timedelta(minutes=1)},
            "parcel_delivery_window_order",
        ),
        ({"weight_grams": 0}, "parcel_weight_positive"),
        ({"platform_fee": F("platform_fee") + 1}, "parcel_price_split"),
        ({"size_class": "X"}, "parcel_size_class_valid"),
    ],
)
def test_database_constraints_hold_even_past_the_services(update, constraint):
    parcel = make_parcel()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Parcel.objects.filter(pk=parcel.pk).update(**update)


@pytest.mark.django_db
def test_mercator_copies_are_generated_by_the_database():
    parcel = make_parcel()
    parcel.refresh_from_db()
    assert parcel.pickup_merc.srid == 3857
    # Web Mercator x = R * lon in radians (R = 6378137 m).
    assert parcel.pickup_merc.x == pytest.approx(
        6378137 * parcel.pickup_point.x * 3.141592653589793 / 180, rel=1e-9
    )
    assert parcel.dropoff_merc.y > parcel.dropoff_point.y


@pytest.mark.django_db
def test_spatial_indexes_exist_on_matching_columns():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select indexname, indexdef from pg_indexes where tablename in "
            "('parcels_parcel', 'trips_trip') and indexdef ilike '%%using gist%%'"
        )
        rows = dict(cursor.fetchall())
    assert "(pickup_merc)" in rows["parcel_pickup_merc_gist"]
    assert "(dropoff_merc)" in rows["parcel_dropoff_merc_gist"]
    assert "(route_merc)" in rows["trip_route_merc_gist"]
