"""Outbound webhooks against a real receiver on loopback: every event of a merchant parcel's
lifecycle arrives signed and in sequence order, after 500s, timeouts and dropped connections;
SSRF refusals; automatic disabling; the API's management and who may use it."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.hooks import sending, services
from marketplace.hooks.models import WebhookDelivery, WebhookEndpoint
from marketplace.hooks.signing import signature_header, verify
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.matching import offer_accept
from marketplace.matching.models import Offer
from marketplace.merchants import services as merchants
from tests.factories.matching import line_trip, parcel_near
from tests.factories.merchants import merchant_with_key
from tests.hooks.receiver import Receiver
from tests.merchants.helpers import key_client
from tests.tracking.helpers import deliver, fresh, pick_up, start

pytestmark = pytest.mark.django_db
HOOKS = "/api/v1/merchant/webhooks/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def endpoint_for(merchant, receiver, **fields):
    endpoint = services.endpoint_create(merchant=merchant, mode="live", url=receiver.url, **fields)
    receiver.secret = endpoint.secret
    return endpoint


def lifecycle(merchant, on_commit):
    """A merchant parcel opened, accepted, picked up, carried and delivered."""
    owner = merchants.merchant_owner_user(merchant)
    with on_commit(execute=True):
        trip = line_trip()
        parcel = parcel_near(shipper=owner, merchant=merchant, external_reference="M-1")
    offer = Offer.objects.get(parcel=parcel, trip=trip)
    with on_commit(execute=True):
        delivery = offer_accept(offer_id=offer.pk, courier=trip.courier)
    with on_commit(execute=True):
        delivery = deliver(start(pick_up(fresh(delivery))))
    return parcel, delivery


EXPECTED = [
    "parcel.status_changed",  # draft -> open
    "delivery.courier_assigned",
    "parcel.status_changed",  # -> matched
    "parcel.status_changed",  # -> picked_up
    "delivery.picked_up",
    "parcel.status_changed",  # -> in_transit
    "parcel.status_changed",  # -> delivered
    "delivery.delivered",
]


def test_a_merchant_parcel_s_events_arrive_signed_and_in_order(
    receiver, django_capture_on_commit_callbacks
):
    merchant, _ = merchant_with_key()
    endpoint_for(merchant, receiver)
    _, delivery = lifecycle(merchant, django_capture_on_commit_callbacks)
    assert receiver.bad_signatures == 0
    assert sorted(receiver.types()) == sorted(EXPECTED)
    sequences = [event["sequence"] for event in receiver.received]
    assert sequences == list(range(1, len(EXPECTED) + 1))
    first = receiver.received[0]
    assert first["data"]["parcel"]["external_reference"] == "M-1"
    assert first["data"]["to_status"] == "open" and first["livemode"] is True
    assert all(e["id"] == e["_event_id_header"] for e in receiver.received)
    delivered = next(e for e in receiver.received if e["type"] == "delivery.delivered")
    assert delivered["data"]["delivery"]["id"] == delivery.pk
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_parcel_without_a_merchant_emits_nothing_and_costs_no_query():
    parcel = parcel_near()
    with CaptureQueriesContext(connection) as queries:
        assert services.event_record(parcel=parcel, type="parcel.status_changed") is None
    assert len(queries) == 0


def test_failures_are_retried_with_back_off_and_order_is_kept(
    receiver, django_capture_on_commit_callbacks
):
    merchant, _ = merchant_with_key()
    endpoint_for(merchant, receiver, event_types=["parcel.status_changed"])
    receiver.script.extend([500, "drop"])
    owner = merchants.merchant_owner_user(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        parcel = parcel_near(shipper=owner, merchant=merchant)  # event 1: 500
    with django_capture_on_commit_callbacks(execute=True):
        parcel_cancel(parcel=parcel, actor=owner)  # event 2: waits behind event 1
    first, second = WebhookDelivery.objects.order_by("event__sequence")
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert second.attempts == 0  # not sent before the first got through
    assert receiver.received == []
    later = timezone.now() + timedelta(minutes=2)
    assert sending.deliver(second.pk, now=later) == "waiting for an earlier event"
    assert sending.deliver(first.pk, now=later) == "pending"  # the dropped connection
    first.refresh_from_db()
    assert "ConnectionError" in first.attempt_log.first().error
    much_later = later + timedelta(minutes=5)
    assert sending.deliver(first.pk, now=much_later) == "succeeded"
    assert sending.deliver(second.pk, now=much_later) == "succeeded"
    assert [e["sequence"] for e in receiver.received] == [1, 2]
    assert [e["data"]["to_status"] for e in receiver.received] == ["open", "cancelled"]
    first.refresh_from_db()
    gaps = [a.created_at for a in first.attempt_log.order_by("created_at")]
    assert len(gaps) == 3


def test_a_slow_receiver_times_out_and_is_retried(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.HOOKS_TIMEOUT_SECONDS = 0.3
    merchant, _ = merchant_with_key()
    endpoint = endpoint_for(merchant, receiver)
    receiver.script.append("slow")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.test_event_send(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "Timeout" in delivery.attempt_log.get().error
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)


def test_the_backoff_grows_and_is_capped():
    assert timedelta(seconds=30) <= sending.backoff(1) <= timedelta(seconds=33)
    assert timedelta(seconds=240) <= sending.backoff(4) <= timedelta(seconds=264)
    assert sending.backoff(40) <= timedelta(hours=6.6)


def test_after_the_retry_window_a_delivery_is_given_up(
    receiver, settings, django_capture_on_commit_callbacks
):
    merchant, _ = merchant_with_key()
    endpoint = endpoint_for(merchant, receiver)
    receiver.script.extend([503, 503])
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.test_event_send(endpoint=endpoint)
    late = timezone.now() + timedelta(hours=settings.HOOKS_RETRY_HOURS + 1)
    assert sending.deliver(delivery.pk, now=late) == "gave_up"


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_told_once(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.HOOKS_DISABLE_AFTER_FAILURES = 3
    merchant, _ = merchant_with_key()
    endpoint = endpoint_for(merchant, receiver)
    receiver.script.extend([500] * 10)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries = [services.test_event_send(endpoint=endpoint) for _ in range(4)]
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.consecutive_failures == 3
    assert "3 failed attempts" in endpoint.disabled_reason
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [merchant.contact_email]
    # Kept, not sent, while disabled; re-enabled, they go out.
    assert sending.deliver(deliveries[3].pk, force=True) == "endpoint disabled"
    services.endpoint_update(endpoint=endpoint, is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.redeliver(delivery=deliveries[3])
    assert WebhookDelivery.objects.get(pk=deliveries[3].pk).status == "pending"  # still 500
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("url", "allow_loopback"),
    [
        ("http://127.0.0.1:9/hook", False),
        ("http://localhost:9/hook", False),
        ("http://[::1]:9/hook", False),
        ("http://10.1.2.3/hook", True),
        ("http://192.168.0.10/hook", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://0.0.0.0/hook", True),
        ("ftp://example.com/hook", True),
        ("http://user:pw@127.0.0.1/hook", True),
    ],
)
def test_private_addresses_are_refused(settings, url, allow_loopback):
    settings.HOOKS_ALLOW_LOOPBACK = allow_loopback
    _, key = merchant_with_key()
    response = key_client(key).post(HOOKS, {"url": url}, format="json")
    assert response.status_code == 400, (url, response.content)
    assert "url" in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_https_is_required_unless_allowed(settings):
    settings.HOOKS_ALLOW_HTTP = False
    merchant, _ = merchant_with_key()
    with pytest.raises(Exception, match="https"):
        services.endpoint_create(merchant=merchant, mode="live", url="http://127.0.0.1:9/")


def test_the_api_manages_endpoints_sends_tests_and_redelivers(
    receiver, django_capture_on_commit_callbacks
):
    merchant, key = merchant_with_key()
    client = key_client(key)
    created = client.post(
        HOOKS, {"url": receiver.url, "event_types": ["webhook.test"]}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["mode"] == "live"
    receiver.secret = body["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(f"{HOOKS}{body['id']}/test/")
    assert sent.status_code == 202
    assert receiver.types() == ["webhook.test"]
    log = client.get(f"{HOOKS}{body['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == "succeeded" and log[0]["attempt_log"][0]["status_code"] == 200
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"{HOOKS}{body['id']}/deliveries/{log[0]['id']}/redeliver/")
    assert again.status_code == 202
    assert receiver.types() == ["webhook.test", "webhook.test"]
    assert receiver.received[0]["id"] == receiver.received[1]["id"]  # same event id: dedupe
    bad = client.patch(f"{HOOKS}{body['id']}/", {"event_types": ["nope"]}, format="json")
    assert bad.status_code == 400
    # Other merchants, test keys and read-only keys
    _, other = merchant_with_key()
    assert key_client(other).get(f"{HOOKS}{body['id']}/").status_code == 404
    _, test_key = merchants.api_key_create(merchant=merchant, name="t", mode="test")
    assert key_client(test_key).get(HOOKS).json()["count"] == 0
    _, read_key = merchants.api_key_create(merchant=merchant, name="r", scope="read")
    assert key_client(read_key).post(f"{HOOKS}{body['id']}/test/").status_code == 403
    assert client.delete(f"{HOOKS}{body['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_the_documented_verification():
    header = signature_header(secret="whsec_x", body=b'{"a":1}')
    assert verify(secret="whsec_x", header=header, body=b'{"a":1}')
    assert not verify(secret="whsec_y", header=header, body=b'{"a":1}')
    assert not verify(secret="whsec_x", header=header, body=b'{"a":2}')
    old = signature_header(secret="whsec_x", body=b"{}", timestamp=1_000_000_000)
    assert not verify(secret="whsec_x", header=old, body=b"{}")
    assert not verify(secret="whsec_x", header="garbage", body=b"{}")


def test_a_test_parcel_goes_to_test_endpoints_only(receiver, django_capture_on_commit_callbacks):
    merchant, _ = merchant_with_key()
    live = endpoint_for(merchant, receiver)
    test = services.endpoint_create(merchant=merchant, mode="test", url=receiver.url)
    owner = merchants.merchant_owner_user(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        parcel_near(shipper=owner, merchant=merchant, is_test=True)
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {test.pk}
    assert live.deliveries.count() == 0
    # the receiver holds the live endpoint's secret, so it refused the test endpoint's signature
    assert receiver.bad_signatures == 1 and receiver.received == []


def test_the_admin_pages_and_actions(client, receiver, django_capture_on_commit_callbacks):
    boss = User.objects.create_superuser(
        email="b@example.com", password="pw-1234567", full_name="B"
    )
    client.force_login(boss)
    merchant, _ = merchant_with_key()
    endpoint = endpoint_for(merchant, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:hooks_webhookendpoint_changelist"),
            {"action": "send_test_event", "_selected_action": [endpoint.pk]},
        )
    assert receiver.types() == ["webhook.test"]
    delivery = WebhookDelivery.objects.get()
    for name, obj in (
        ("webhookendpoint", endpoint),
        ("webhookevent", delivery.event),
        ("webhookdelivery", delivery),
    ):
        assert client.get(reverse(f"admin:hooks_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:hooks_{name}_change", args=[obj.pk])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:hooks_webhookdelivery_changelist"),
            {"action": "redeliver", "_selected_action": [delivery.pk]},
        )
    assert receiver.types() == ["webhook.test", "webhook.test"]
