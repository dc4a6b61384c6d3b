"""`manage.py bench_matching` on a tiny city: it runs end to end, the oracle guards the engine, and
it never touches a database that is not a scratch one."""

import io
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketplace.bench.management.commands.bench_matching import oracle_trips_all
from marketplace.matching import engine
from marketplace.matching.engine import Fit
from marketplace.matching.oracle import load_trips
from marketplace.parcels.models import Parcel
from marketplace.trips.models import Trip
from tests.factories.trips import make_trip

pytestmark = pytest.mark.django_db(transaction=True)


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def test_bench_prints_engine_and_baseline_figures_and_the_oracle_passes():
    # when
    out = io.StringIO()
    call_command("bench_matching", sizes="300", samples=5, oracle_samples=5, stdout=out)

    # then the table is there for both directions, with the oracle's verdict
    text = out.getvalue()
    assert "=== 300 active trips x 300 open parcels" in text
    assert "engine p50" in text and "baseline p50" in text and "ratio p50" in text
    assert "\nparcel -> trips " in text and "\ntrip -> parcels " in text
    assert "oracle: 5 parcels and 5 trips checked" in text
    assert "oracle: PASS" in text
    assert "targets: " in text
    assert "index upkeep: one trip's pieces, cells and measured route rebuilt in" in text
    # the city is in the real tables, and the baseline's scratch columns are gone again
    assert Trip.objects.filter(status="active").count() == 300
    assert Parcel.objects.filter(status="open").count() == 300
    assert Trip.objects.filter(segments__isnull=False).distinct().count() == 300
    assert "route_geog" not in _columns("trips_trip")
    assert not {"pickup_geog", "dropoff_geog"} & _columns("parcels_parcel")
    # the bench's fast oracle loader sees the trips exactly as oracle.load_trips does
    assert oracle_trips_all() == load_trips(
        Trip.objects.select_related("courier__courier_profile").order_by("id")
    )


def test_bench_works_in_the_southern_hemisphere():
    out = io.StringIO()
    call_command(
        "bench_matching",
        sizes="200",
        samples=3,
        oracle_samples=3,
        center="-33.87,151.21",
        stdout=out,
    )
    assert "oracle: PASS" in out.getvalue()
    lon, lat = Trip.objects.first().route.coords[0]
    assert 150.9 < lon < 151.5 and -34.1 < lat < -33.6


def test_bench_fails_loudly_when_the_engine_disagrees_with_the_oracle():
    # given an engine that invents a fit
    real = engine.trips_for_parcel

    def inventive(parcel, *, limit=50):
        when = datetime(2030, 6, 3, 8, tzinfo=UTC)
        return [*real(parcel, limit=limit), Fit(-1, parcel.pk, 0, 0, 1, 0.0, 0.0, when, when)]

    # when / then
    out = io.StringIO()
    with (
        mock.patch.object(engine, "trips_for_parcel", inventive),
        pytest.raises(CommandError, match="disagrees with the brute-force oracle"),
    ):
        call_command("bench_matching", sizes="200", samples=3, oracle_samples=2, stdout=out)
    assert "engine returns trip -1, oracle says no" in out.getvalue()
    assert "oracle: FAIL" in out.getvalue()


def test_bench_refuses_a_database_that_is_not_a_scratch_one():
    # given real data in a database whose name does not say "bench"
    trip = make_trip()

    # when / then
    with (
        mock.patch.dict(connection.settings_dict, {"NAME": "waypost"}),
        pytest.raises(CommandError, match="Refusing to run on database 'waypost'"),
    ):
        call_command("bench_matching", sizes="300", samples=5, stdout=io.StringIO())

    # nothing changed
    assert list(Trip.objects.values_list("id", flat=True)) == [trip.pk]
    assert Parcel.objects.count() == 0
