"""The city-day simulator on a small day: both policies run on the same seeded day through the
real lifecycle, every parcel ends delivered or expired, no trip ever carries more than its room,
no policy beats the hindsight bound, and the command prints the table."""

import io
import logging
from datetime import date, timedelta

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import override_settings

from marketplace.bench.simulation.behaviour import Acceptance
from marketplace.bench.simulation.bound import bound_solve
from marketplace.bench.simulation.day import DaySpec, day_build
from marketplace.bench.simulation.running import DayRun
from marketplace.deliveries.models import Delivery, DeliveryStatus
from marketplace.matching.assignment import Load, peak_load
from marketplace.matching.models import Offer
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.trips.models import Trip

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = DaySpec(
    trips=60,
    parcels=120,
    center=(-33.87, 151.21),  # Sydney: the south, and a time zone far from UTC
    time_zone="Australia/Sydney",
    day=date(2030, 6, 4),
    seed=3,
)


@pytest.fixture(autouse=True)
def eager():
    assert current_app.conf.task_always_eager


def test_the_same_seed_gives_the_same_day_and_the_same_answers():
    a, b = day_build(SPEC), day_build(SPEC)
    assert a == b
    assert day_build(DaySpec(**{**SPEC.__dict__, "seed": 4})) != a
    acceptance = Acceptance(seed=3)
    answers = {
        acceptance.decides(parcel=p, trip=(p, 0), detour_m=1_500, pay_minor=800) for p in range(200)
    }
    assert len(answers) == 200  # delays differ
    assert 0.2 < sum(yes for yes, _ in answers) / 200 < 0.8
    assert acceptance.probability(detour_m=500, pay_minor=800) > acceptance.probability(
        detour_m=3_000, pay_minor=800
    )
    assert acceptance.probability(detour_m=1_000, pay_minor=1_500) > acceptance.probability(
        detour_m=1_000, pay_minor=500
    )


def _check_the_database(outcome) -> None:
    parcels = Parcel.objects.all()
    assert parcels.count() == outcome.posted == SPEC.parcels
    assert set(parcels.values_list("status", flat=True)) <= {
        ParcelStatus.DELIVERED,
        ParcelStatus.EXPIRED,
    }
    delivered = Delivery.objects.filter(status=DeliveryStatus.DELIVERED)
    assert delivered.count() == outcome.delivered
    assert parcels.filter(status=ParcelStatus.DELIVERED).count() == outcome.delivered
    for d in delivered:
        assert d.predicted_pickup_at <= d.picked_up_at <= d.delivered_at
    assert not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()
    for trip in Trip.objects.filter(deliveries__isnull=False).distinct():
        loads = [
            Load(d.pickup_position_m, d.dropoff_position_m, d.parcel.weight_grams)
            for d in trip.deliveries.select_related("parcel")
        ]
        count, weight = peak_load(loads)
        assert count <= trip.max_parcels and weight <= trip.max_weight_grams
    pairs = list(Offer.objects.values_list("parcel_id", "courier_id"))
    assert len(pairs) == len(set(pairs))  # nobody asked twice about one parcel


@pytest.mark.parametrize("policy", ["greedy", "batch"])
def test_a_policy_runs_the_day_through_the_real_lifecycle(policy, settings):
    settings.MATCHING_POLICY = policy
    day = day_build(SPEC)
    run = DayRun(
        day,
        policy=policy,
        acceptance=Acceptance(seed=3),
        batch_every=timedelta(seconds=settings.MATCHING_BATCH_SECONDS),
        offer_ttl_minutes=settings.MATCHING_OFFER_TTL_MINUTES,
    )
    outcome = run.run()
    assert outcome.delivered > 0 and outcome.expired > 0
    assert outcome.delivered + outcome.expired == outcome.posted
    assert outcome.accepted >= outcome.delivered
    assert len(outcome.detours_m) == outcome.delivered and outcome.co2_grams > 0
    if policy == "batch":
        assert outcome.batches and all(b.method in ("milp", "greedy", "") for b in outcome.batches)
    _check_the_database(outcome)

    with override_settings(MATCHING_POLICY="batch"):
        bound = bound_solve(
            day,
            acceptance=Acceptance(seed=3),
            offer_ttl_minutes=settings.MATCHING_OFFER_TTL_MINUTES,
            time_limit=30,
        )
    assert bound.optimal and bound.served_at_most == bound.served
    assert outcome.delivered <= bound.served <= bound.parcels_with_a_yes


def test_the_command_prints_both_policies_and_the_bound():
    out = io.StringIO()
    levels = {name: logging.getLogger(name).level for name in ("marketplace", "celery")}
    call_command(
        "simulate_day",
        trips=40,
        parcels=60,
        lat=SPEC.center[0],
        lon=SPEC.center[1],
        time_zone=SPEC.time_zone,
        seed=3,
        stdout=out,
        stderr=io.StringIO(),
    )
    text = out.getvalue()
    assert "greedy" in text and "batch" in text and "bound" in text
    for label in (
        "parcels posted",
        "delivered",
        "expired unmatched",
        "share served",
        "mean detour (m)",
        "p95 detour (m)",
        "pay per detour hour",
        "CO2 saved (kg)",
    ):
        assert f"\n{label}" in text
    assert "p(accept) = 1 / (1 + exp(" in text
    assert "batch / greedy delivered:" in text and "batch / bound:" in text
    # the run quietened the app's loggers only while it ran (later tests read their INFO lines)
    assert {name: logging.getLogger(name).level for name in levels} == levels


def test_the_command_refuses_a_database_that_is_not_scratch(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "NAME", "waypost")
    with pytest.raises(CommandError, match="scratch"):
        call_command("simulate_day", trips=10, parcels=10)
    monkeypatch.setitem(connection.settings_dict, "NAME", "test_waypost_bench")
    with pytest.raises(CommandError, match="weekday"):
        call_command("simulate_day", trips=10, parcels=10, date=date(2030, 6, 8))
