"""The parcel status table: every allowed move works and is audited; every other move is
refused with a clear error and changes nothing."""

import pytest
from django.db import IntegrityError, transaction

from marketplace.core.state_machine import TransitionNotAllowed
from marketplace.parcels.models import PARCEL_TRANSITIONS, Parcel, ParcelEvent, ParcelStatus
from marketplace.parcels.services import parcel_transition
from tests.factories.parcels import make_parcel

ALL = list(ParcelStatus.values)
ALLOWED = [(a, b) for a, targets in PARCEL_TRANSITIONS.items() for b in sorted(targets)]
REFUSED = [(a, b) for a in ALL for b in ALL if b not in PARCEL_TRANSITIONS[a]]


def test_table_covers_every_status():
    assert set(PARCEL_TRANSITIONS) == set(ALL)
    assert all(set(t) <= set(ALL) for t in PARCEL_TRANSITIONS.values())


def _parcel_in(status: str) -> Parcel:
    parcel = make_parcel(publish=False)
    Parcel.objects.filter(pk=parcel.pk).update(status=status)
    parcel.refresh_from_db()
    return parcel


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_move_changes_status_and_writes_event(current, target, shipper):
    parcel = _parcel_in(current)
    before = parcel.events.count()

    moved = parcel_transition(parcel=parcel, to_status=target, actor=shipper, note="test")

    parcel.refresh_from_db()
    assert moved.status == parcel.status == target
    assert parcel.events.count() == before + 1
    event = parcel.events.last()
    assert (event.from_status, event.to_status, event.actor, event.note) == (
        current,
        target,
        shipper,
        "test",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_move_raises_and_changes_nothing(current, target, shipper):
    parcel = _parcel_in(current)
    updated_at, events = parcel.updated_at, parcel.events.count()

    with pytest.raises(TransitionNotAllowed) as excinfo:
        parcel_transition(parcel=parcel, to_status=target, actor=shipper)

    assert f"from '{current}' to '{target}'" in excinfo.value.message
    parcel.refresh_from_db()
    assert parcel.status == current
    assert parcel.updated_at == updated_at
    assert parcel.events.count() == events


@pytest.mark.django_db
def test_publishing_stamps_published_at_once(shipper):
    parcel = make_parcel(shipper=shipper, publish=False)
    assert parcel.published_at is None
    parcel = parcel_transition(parcel=parcel, to_status=ParcelStatus.OPEN, actor=shipper)
    first = parcel.published_at
    assert first is not None
    parcel = parcel_transition(parcel=parcel, to_status=ParcelStatus.MATCHED, actor=None)
    parcel = parcel_transition(parcel=parcel, to_status=ParcelStatus.OPEN, actor=None)
    assert parcel.published_at == first


@pytest.mark.django_db
def test_database_refuses_an_unknown_status():
    parcel = make_parcel()
    with pytest.raises(IntegrityError), transaction.atomic():
        Parcel.objects.filter(pk=parcel.pk).update(status="teleported")
    assert ParcelEvent.objects.filter(parcel=parcel).count() == 2
