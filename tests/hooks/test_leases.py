"""A delivery is leased to its sender while the POST is in flight: a second sender leaves it
alone (`busy`), the sweep skips it, a sender that died is replaced once the lease has passed,
and a redelivery does not wait for it. No transaction stays open during the POST."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from marketplace.hooks import selectors, sending, services
from marketplace.hooks.models import WebhookAttempt, WebhookDelivery
from marketplace.merchants import services as merchants
from tests.factories.matching import parcel_near
from tests.factories.merchants import merchant_with_key
from tests.hooks.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery():
    with Receiver() as receiver:
        merchant, _ = merchant_with_key()
        endpoint = services.endpoint_create(merchant=merchant, mode="live", url=receiver.url)
        receiver.secret = endpoint.secret
        parcel_near(shipper=merchants.merchant_owner_user(merchant), merchant=merchant)
        yield WebhookDelivery.objects.get(endpoint=endpoint), receiver


def lease_to_a_sender_that_died(delivery, *, ago=timedelta(0)):
    """What a sender's claim leaves behind when it dies before finishing."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        leased_until=timezone.now() - ago + sending.lease_length()
    )


def test_a_leased_delivery_is_left_to_its_sender_and_skipped_by_the_sweep(delivery):
    delivery, receiver = delivery
    lease_to_a_sender_that_died(delivery)

    assert sending.deliver(delivery.pk) == "busy"
    assert delivery.pk not in selectors.deliveries_due()
    assert receiver.received == []


def test_once_the_lease_has_passed_the_delivery_is_sent_again(delivery):
    delivery, receiver = delivery
    lease_to_a_sender_that_died(delivery, ago=sending.lease_length() + timedelta(seconds=1))

    assert delivery.pk in selectors.deliveries_due()
    assert sending.deliver(delivery.pk) == "succeeded"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.leased_until) == ("succeeded", 1, None)
    assert len(receiver.received) == 1


def test_a_redelivery_does_not_wait_for_a_send_in_flight(
    delivery, django_capture_on_commit_callbacks
):
    delivery, receiver = delivery
    lease_to_a_sender_that_died(delivery)

    with django_capture_on_commit_callbacks(execute=True):
        services.redeliver(delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.leased_until) == ("succeeded", None)
    assert len(receiver.received) == 1


def test_a_finish_after_losing_the_lease_is_logged_but_moves_nothing(delivery, monkeypatch):
    delivery, _ = delivery
    real_post = sending._post

    def post_then_lose_the_lease(**kwargs):
        attempt = real_post(**kwargs)
        # meanwhile the lease passed and another sender took the delivery
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            leased_until=timezone.now() + timedelta(hours=1)
        )
        return attempt

    monkeypatch.setattr(sending, "_post", post_then_lose_the_lease)
    sending.deliver(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_no_transaction_is_open_while_the_post_waits(delivery, monkeypatch):
    delivery, _ = delivery
    depth_during_post = []
    real_post = sending._post

    def post(**kwargs):
        depth_during_post.append(len(connection.savepoint_ids))
        return real_post(**kwargs)

    monkeypatch.setattr(sending, "_post", post)
    assert sending.deliver(delivery.pk) == "succeeded"
    # the test's own transaction is the only one (no atomic block of the sender's around it)
    assert depth_during_post == [0]
