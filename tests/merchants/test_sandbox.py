"""The sandbox: a test key's delivery is walked through the real lifecycle by the simulated
courier (assigned, picked up, positions, delivered / failed / returned), emitting the same
webhooks to the test endpoints; real couriers never see it; steps repeated change nothing."""

import pytest
from django.core.cache import cache

from marketplace.deliveries.models import Delivery
from marketplace.hooks import services as hooks
from marketplace.lifecycle.sandbox import sandbox_advance
from marketplace.matching.models import Offer
from marketplace.merchants import services as merchants
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.tracking.models import LocationPing
from tests.factories.matching import line_trip
from tests.factories.merchants import merchant_with_key
from tests.hooks.receiver import Receiver
from tests.merchants.helpers import DELIVERIES, delivery_body, key_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def create(on_commit, **body):
    merchant, _ = merchant_with_key()
    _, test_key = merchants.api_key_create(merchant=merchant, name="sandbox", mode="test")
    with on_commit(execute=True):
        response = key_client(test_key).post(DELIVERIES, delivery_body(**body), format="json")
    assert response.status_code == 201, response.content
    return merchant, Parcel.objects.get(pk=response.json()["id"])


def statuses(parcel):
    return list(parcel.events.order_by("created_at", "id").values_list("to_status", flat=True))


def test_a_test_delivery_is_walked_to_delivered_with_the_same_webhooks(
    django_capture_on_commit_callbacks,
):
    with Receiver() as receiver:
        merchant, _ = merchant_with_key()
        endpoint = hooks.endpoint_create(merchant=merchant, mode="test", url=receiver.url)
        receiver.secret = endpoint.secret
        _, test_key = merchants.api_key_create(merchant=merchant, name="t", mode="test")
        real_trip = line_trip()  # a real courier whose trip would fit
        with django_capture_on_commit_callbacks(execute=True):
            response = key_client(test_key).post(DELIVERIES, delivery_body(), format="json")
        parcel = Parcel.objects.get(pk=response.json()["id"])
        assert parcel.status == ParcelStatus.DELIVERED
        assert statuses(parcel) == [
            "draft",
            "open",
            "matched",
            "picked_up",
            "in_transit",
            "delivered",
        ]
        delivery = Delivery.objects.get(parcel=parcel)
        assert delivery.courier.email == "sandbox-courier@waypost.invalid"
        assert delivery.proof_photo and delivery.signature_image
        assert LocationPing.objects.filter(delivery=delivery).count() >= 1
        assert not Offer.objects.filter(trip=real_trip).exists()
        assert "delivery.delivered" in receiver.types()
        assert "delivery.courier_assigned" in receiver.types()
        assert all(event["livemode"] is False for event in receiver.received)
        sequences = [event["sequence"] for event in receiver.received]
        assert sequences == sorted(sequences)


def test_a_failed_outcome(django_capture_on_commit_callbacks):
    _, parcel = create(django_capture_on_commit_callbacks, sandbox_outcome="failed")
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.DELIVERY_FAILED
    assert Delivery.objects.get(parcel=parcel).failure_reason.startswith("Sandbox")


def test_a_returned_outcome_comes_back_to_the_sender(django_capture_on_commit_callbacks):
    _, parcel = create(django_capture_on_commit_callbacks, sandbox_outcome="returned")
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.RETURNED
    back = Parcel.objects.get(is_return=True)
    assert back.is_test and back.status == ParcelStatus.DELIVERED


def test_steps_repeated_change_nothing(django_capture_on_commit_callbacks):
    _, parcel = create(django_capture_on_commit_callbacks)
    before = statuses(parcel)
    assert sandbox_advance(parcel.pk) == "done"
    assert sandbox_advance(parcel.pk) == "done"
    assert statuses(parcel) == before


def test_live_parcels_are_never_walked(django_capture_on_commit_callbacks):
    _, key = merchant_with_key()
    with django_capture_on_commit_callbacks(execute=True):
        response = key_client(key).post(DELIVERIES, delivery_body(), format="json")
    parcel = Parcel.objects.get(pk=response.json()["id"])
    assert sandbox_advance(parcel.pk) == "not a test parcel"
    assert parcel.status == ParcelStatus.OPEN and not Delivery.objects.exists()
