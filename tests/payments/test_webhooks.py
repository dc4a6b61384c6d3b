"""The two webhook endpoints: signatures checked (nothing stored otherwise), each event stored
once and processed once, and duplicated or reordered deliveries leaving the same state."""

import json
import random
import time

import pytest
from django.conf import settings

from marketplace.lifecycle.paying import payment_start, payment_sync
from marketplace.lifecycle.stripe_webhooks import webhook_process
from marketplace.lifecycle.tasks import retry_webhook_events
from marketplace.payments import gateway, ledger
from marketplace.payments.models import (
    ConnectedAccount,
    Dispute,
    LedgerTransaction,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
    WebhookEvent,
)
from tests.factories.matching import line_trip, parcel_near
from tests.payments.helpers import (
    assign,
    balances,
    browser_confirms,
    dashboard_refund,
    deliver,
    delivered_payment,
    events_of,
    fail_times,
    no_retry_sleep,
    onboard,
    paid_parcel,
)
from tests.payments.stripe_fakes import event, post_event, requests, signed

pytestmark = pytest.mark.django_db
P = PaymentStatus
PLATFORM, CONNECT = "/webhooks/stripe/", "/webhooks/stripe/connect/"


def _post(client, url, body, header):
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def _intent_event(kind, payment):
    return event(kind, gateway.payment_intent_retrieve(payment.stripe_payment_intent_id))


def _browser_paid(capture):
    """A payment confirmed by the browser at Stripe; Waypost has not heard of it yet."""
    parcel = parcel_near()
    with capture(execute=True):
        payment = payment_start(parcel=parcel, shipper=parcel.shipper)
    browser_confirms(payment, "pm_card_visa")
    return parcel, payment


# --- accepted -----------------------------------------------------------------------------------
def test_a_signed_event_is_stored_once_and_processed(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given the browser paid at Stripe
    parcel, payment = _browser_paid(django_capture_on_commit_callbacks)
    assert Payment.objects.get(pk=payment.pk).status == P.REQUIRES_PAYMENT

    # When Stripe sends payment_intent.succeeded
    payload = _intent_event("payment_intent.succeeded", payment)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, payload)

    # Then it is acknowledged, stored once, processed: the payment succeeded
    assert response.status_code == 200 and response.json() == {"received": True}
    stored = WebhookEvent.objects.get()
    assert (stored.event_id, stored.type, stored.endpoint) == (
        payload["id"],
        "payment_intent.succeeded",
        "platform",
    )
    assert stored.payload == payload
    assert stored.processed_at is not None and stored.attempts == 1 and stored.last_error == ""
    payment.refresh_from_db()
    parcel.refresh_from_db()
    assert payment.status == P.SUCCEEDED and parcel.status == "open"


def test_a_duplicate_event_is_acknowledged_and_not_processed_again(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _parcel, payment = _browser_paid(django_capture_on_commit_callbacks)
    payload = _intent_event("payment_intent.succeeded", payment)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, payload)

    # When Stripe delivers the same event again
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = post_event(client, payload)

    # Then: 200 duplicate, one row, processed once, nothing more scheduled
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    assert callbacks == []
    stored = WebhookEvent.objects.get()
    assert stored.attempts == 1
    assert events_of(payment) == [("", P.REQUIRES_PAYMENT), (P.REQUIRES_PAYMENT, P.SUCCEEDED)]
    assert LedgerTransaction.objects.filter(payment=payment).count() == 1


def test_a_connect_event_is_stored_with_its_account(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a delivered parcel whose share waits for the courier's payouts
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(
        django_capture_on_commit_callbacks, stripe_connect, trip.courier, payouts=False
    )
    transfer = Transfer.objects.get(payment=payment)

    # When Stripe reports the account still needs details
    pending = event("account.updated", stripe_connect.accounts[account.stripe_account_id])
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, pending, connect=True).status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.WAITING and not stripe_connect.transfers
    account.refresh_from_db()
    assert account.requirements_due and not account.payouts_enabled

    # When payouts are enabled
    data = stripe_connect.enable_payouts(account.stripe_account_id)
    enabled = event("account.updated", data, account=account.stripe_account_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, enabled, connect=True).status_code == 200

    # Then the waiting transfer goes out once
    stored = WebhookEvent.objects.get(event_id=enabled["id"])
    assert stored.endpoint == "connect" and stored.account == account.stripe_account_id
    account.refresh_from_db()
    assert account.payouts_enabled and account.requirements_due == []
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    assert len(stripe_connect.transfers_to(account.stripe_account_id)) == 1

    # And a repeated account.updated (a new event) sends nothing more
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, event("account.updated", data), connect=True)
    assert len(stripe_connect.transfers) == 1


def test_events_we_do_not_act_on_are_stored_and_marked_processed(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    for kind in ("transfer.created", "payout.paid", "customer.created"):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_event(client, event(kind, {"id": "obj_1"}))
        assert response.status_code == 200
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 3


def test_an_event_for_an_intent_we_do_not_know_is_processed_as_nothing(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    intent = gateway.payment_intent_create(
        amount=500, currency="eur", metadata={}, key="not-ours", payment_method="pm_card_visa"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, event("payment_intent.succeeded", intent))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    assert not Payment.objects.exists()


# --- refused: 400 and nothing stored --------------------------------------------------------
def _refused(response):
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert not WebhookEvent.objects.exists()


def _secret(url):
    return (
        settings.STRIPE_WEBHOOK_SECRET
        if url == PLATFORM
        else settings.STRIPE_CONNECT_WEBHOOK_SECRET
    )


def _some_event():
    return event("payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent"})


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_bad_signature_is_refused(url, client, django_capture_on_commit_callbacks):
    body, header = signed(_some_event(), secret=_secret(url))
    tampered = body.replace("pi_unknown", "pi_tampered")
    timestamp, _v1 = header.split(",")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _refused(_post(client, url, tampered, header))
        _refused(_post(client, url, body, f"{timestamp},v1={'0' * 64}"))
        _refused(_post(client, url, body, "garbage"))
    assert callbacks == []


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_stale_timestamp_is_refused(url, client):
    stale = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE - 10

    body, header = signed(_some_event(), secret=_secret(url), timestamp=stale)

    _refused(_post(client, url, body, header))


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_timestamp_within_the_tolerance_is_accepted(url, client):
    recent = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE + 30

    body, header = signed(_some_event(), secret=_secret(url), timestamp=recent)

    assert _post(client, url, body, header).status_code == 200
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_missing_signature_header_is_refused(url, client):
    response = client.post(url, data=json.dumps(_some_event()), content_type="application/json")

    _refused(response)
    assert "Stripe-Signature" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        (PLATFORM, "STRIPE_CONNECT_WEBHOOK_SECRET"),
        (CONNECT, "STRIPE_WEBHOOK_SECRET"),
        (PLATFORM, None),
        (CONNECT, None),
    ],
)
def test_the_wrong_secret_is_refused(url, secret, client):
    key = getattr(settings, secret) if secret else "whsec_someone_else"
    body, header = signed(_some_event(), secret=key)

    _refused(_post(client, url, body, header))


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"a string"', "{}", '{"id": "evt_1"}'])
def test_a_signed_body_that_is_not_an_event_is_refused(body, client):
    body, header = signed(body, secret=settings.STRIPE_WEBHOOK_SECRET)

    _refused(_post(client, PLATFORM, body, header))


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_only_post_is_allowed(url, client):
    assert client.get(url).status_code == 405
    assert not WebhookEvent.objects.exists()


def test_events_are_read_as_raw_bytes_not_reformatted(client, django_capture_on_commit_callbacks):
    # Stripe signs its own byte layout; re-serialising the JSON would break the signature.
    payload = _some_event()
    body = json.dumps(payload, indent=4, ensure_ascii=False)
    _b, header = signed(body, secret=settings.STRIPE_WEBHOOK_SECRET)

    response = _post(client, PLATFORM, body, header)

    assert response.status_code == 200 and WebhookEvent.objects.get().event_id == payload["id"]


# --- out of order ---------------------------------------------------------------------------
def test_payment_failed_after_succeeded_changes_nothing(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given an intent that failed once and then succeeded in the browser: Stripe sends both
    # events, and the failure arrives last
    _parcel, payment = _browser_paid(django_capture_on_commit_callbacks)
    succeeded = _intent_event("payment_intent.succeeded", payment)
    failed = _intent_event("payment_intent.payment_failed", payment)
    failed["data"]["object"]["status"] = "requires_payment_method"
    failed["data"]["object"]["last_payment_error"] = {"message": "Your card was declined."}

    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, succeeded)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, failed)

    # Then the late failure (re-read from Stripe: succeeded) moves nothing back
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and payment.failure_message == ""
    assert events_of(payment)[-1] == (P.REQUIRES_PAYMENT, P.SUCCEEDED)
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 2


def test_a_stale_requires_payment_event_does_not_undo_a_failure(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    _parcel, payment = paid_parcel(
        django_capture_on_commit_callbacks, card="pm_card_chargeCustomerFail"
    )
    created = _intent_event("payment_intent.created", payment)

    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, created)

    payment.refresh_from_db()
    assert payment.status == P.FAILED and payment.events.count() == 2


def _flow_events(capture, connect):
    """A whole flow at Stripe (paid in the browser, delivered, payouts enabled, disputed and won,
    part refunded in the dashboard) and the events Stripe sends for it."""
    trip = line_trip()
    parcel, payment = _browser_paid(capture)
    with capture(execute=True):
        payment_sync(payment_intent_id=payment.stripe_payment_intent_id)
    payment.refresh_from_db()
    deliver(capture, assign(parcel, trip), trip.courier)
    account = onboard(capture, connect, trip.courier, payouts=False)
    account_data = connect.enable_payouts(account.stripe_account_id)
    dispute = connect.open_dispute(charge_id=payment.stripe_charge_id, amount=payment.amount)
    created = event("charge.dispute.created", dispute)
    closed = event("charge.dispute.closed", connect.close_dispute(dispute["id"], "won"))
    dashboard_refund(payment, 100)
    return (
        payment,
        account,
        [
            ("platform", _intent_event("payment_intent.succeeded", payment)),
            ("platform", event("charge.succeeded", {"id": payment.stripe_charge_id})),
            ("connect", event("account.updated", account_data, account=account.stripe_account_id)),
            ("platform", created),
            ("platform", closed),
            (
                "platform",
                event("charge.refunded", gateway.charge_retrieve(payment.stripe_charge_id)),
            ),
        ],
    )


def _snapshot(payment):
    payment.refresh_from_db()
    return {
        "status": payment.status,
        "refunded": payment.amount_refunded,
        "transfers": sorted(Transfer.objects.values_list("kind", "status", "amount")),
        "disputes": sorted(Dispute.objects.values_list("status", flat=True)),
        "ledger": balances(payment),
        "postings": sorted(LedgerTransaction.objects.values_list("source", flat=True)),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_event_of_a_flow_twice_in_random_order_ends_the_same(
    seed, payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    # Given a flow whose events Stripe sends late, twice, in any order
    payment, account, events = _flow_events(django_capture_on_commit_callbacks, stripe_connect)
    deliveries = [(endpoint, payload, False) for endpoint, payload in events]
    # ...sometimes the same event again, sometimes a new event about the same object
    deliveries += [
        (endpoint, {**payload, "id": payload["id"] + "_2"} if i % 2 else payload, True)
        for i, (endpoint, payload) in enumerate(events)
    ]
    random.Random(seed).shuffle(deliveries)

    # When they all arrive
    for endpoint, payload, _again in deliveries:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_event(client, payload, connect=endpoint == "connect")
        assert response.status_code == 200

    # Then the end state is Stripe's: released and sent, dispute won, the refund recorded
    first = _snapshot(payment)
    assert first["status"] == P.RELEASED
    assert first["refunded"] == 100
    assert first["transfers"] == [("release", "paid", payment.courier_share)]
    assert first["disputes"] == ["won"]
    assert len(stripe_connect.transfers_to(account.stripe_account_id)) == 1
    assert first["ledger"] == {
        "escrow": 100,  # refunded behind our back after release: shows as escrow overdrawn
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.platform_fee - 100,
    }
    assert ledger.total() == 0
    assert WebhookEvent.objects.count() == len(events) + len(events) // 2
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()

    # And processing every stored event once more (the admin's "process again") changes nothing
    for stored in WebhookEvent.objects.all():
        WebhookEvent.objects.filter(pk=stored.pk).update(processed_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_process(event_pk=stored.pk)
    assert _snapshot(payment) == first
    assert len(stripe_connect.transfers) == 1


# --- processing fails, then is retried --------------------------------------------------------
def test_an_event_whose_processing_fails_is_kept_and_retried_later(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    no_retry_sleep(monkeypatch)
    trip, _parcel, payment, _d = delivered_payment(django_capture_on_commit_callbacks)
    account = onboard(
        django_capture_on_commit_callbacks, stripe_connect, trip.courier, payouts=False
    )
    data = stripe_connect.enable_payouts(account.stripe_account_id)

    # When Stripe cannot be reached while the event is processed
    fail_times(
        stripe_connect,
        f"/v1/accounts/{account.stripe_account_id}",
        requests.ConnectionError("down"),
    )
    # (Celery's autoretry: eager here, and logged, not raised: issue 15)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, event("account.updated", data), connect=True)

    # Then Stripe got its 200, the event is kept unprocessed with the error, and it is logged
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert any(
        stored.event_id in r.getMessage() and "not processed" in r.getMessage()
        for r in caplog.records
    )
    assert stored.processed_at is None and stored.attempts == 1 and "down" in stored.last_error
    assert not ConnectedAccount.objects.get(pk=account.pk).payouts_enabled

    # When the periodic sweep picks it up (after five minutes)
    WebhookEvent.objects.filter(pk=stored.pk).update(
        received_at=stored.received_at.replace(year=2000)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_webhook_events() == 1

    # Then it is processed and the transfer goes out once
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.attempts == 2 and stored.last_error == ""
    assert Transfer.objects.get(payment=payment).status == TransferStatus.PAID
    assert len(stripe_connect.transfers) == 1


# --- issue 15: processing never answers 500, timestamps both ways, bounded bodies -------------
def _unknown_object_event(url):
    """A validly signed event whose object Stripe does not know (re-reading it fails)."""
    if url == PLATFORM:
        return event("payment_intent.succeeded", {"id": "pi_nobody", "object": "payment_intent"})
    return event(
        "charge.dispute.created", {"id": "dp_nobody", "object": "dispute"}, account="acct_x"
    )


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_processing_failure_is_answered_200_recorded_and_logged(
    url, payments_on, stripe_connect, client, django_capture_on_commit_callbacks, caplog
):
    # Given an event Stripe signed but whose object it does not know
    body, header = signed(_unknown_object_event(url), secret=_secret(url))

    # When it arrives and (tasks run eagerly here) is processed inside the request
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(client, url, body, header)

    # Then Stripe is answered 200 as the event is in the inbox, and the failure is on its row
    assert response.status_code == 200 and response.json() == {"received": True}
    assert len(callbacks) == 1
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is None
    assert stored.attempts >= 1 and stored.last_error
    # and in the logs: our warning, and the after-commit error with its traceback
    messages = [r.getMessage() for r in caplog.records]
    assert any(stored.event_id in m and "not processed" in m for m in messages)
    assert any("on_commit" in m for m in messages)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_processing_failure_after_a_real_commit_is_answered_200(
    url, payments_on, stripe_connect, client
):
    """Without the test's wrapping transaction the task runs at the commit inside the request
    (eager Celery, as in `make run`): still a 200, never the debug page."""
    body, header = signed(_unknown_object_event(url), secret=_secret(url))

    response = _post(client, url, body, header)

    assert response.status_code == 200 and response.json() == {"received": True}
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is None and stored.last_error


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
@pytest.mark.parametrize("ahead", [60 * 60, 24 * 60 * 60])
def test_a_timestamp_in_the_future_beyond_the_tolerance_is_refused(url, ahead, client):
    future = int(time.time()) + ahead

    body, header = signed(_some_event(), secret=_secret(url), timestamp=future)

    _refused(_post(client, url, body, header))


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_timestamp_slightly_ahead_within_the_tolerance_is_accepted(url, client):
    """Clocks drift: a few seconds ahead of ours is Stripe's clock, not a forgery."""
    ahead = int(time.time()) + settings.STRIPE_WEBHOOK_TOLERANCE - 30

    body, header = signed(_some_event(), secret=_secret(url), timestamp=ahead)

    assert _post(client, url, body, header).status_code == 200
    assert WebhookEvent.objects.count() == 1


def _padded_event(size):
    """A signed-able event whose JSON is `size` bytes long."""
    data = _some_event()
    data["data"]["object"]["metadata"] = {"pad": ""}
    data["data"]["object"]["metadata"]["pad"] = "x" * (size - len(json.dumps(data)))
    body = json.dumps(data)
    assert len(body) == size
    return body


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_signed_body_over_the_bound_is_refused_with_413_before_parsing(url, client):
    body, header = signed(_padded_event(5 * 1024 * 1024), secret=_secret(url))

    response = _post(client, url, body, header)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert str(settings.STRIPE_WEBHOOK_MAX_BYTES) in response.json()["error"]["message"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_body_without_content_length_is_bounded_by_reading(url, rf):
    """A chunked body has no Content-Length: the bound is applied by reading one byte past it."""
    from marketplace.api import stripe_webhooks

    body, header = signed(_padded_event(settings.STRIPE_WEBHOOK_MAX_BYTES + 1), secret=_secret(url))
    request = rf.post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    del request.META["CONTENT_LENGTH"]
    view = stripe_webhooks.platform_webhook if url == PLATFORM else stripe_webhooks.connect_webhook

    assert view(request).status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
def test_a_body_at_the_bound_is_accepted(url, client, settings):
    settings.STRIPE_WEBHOOK_MAX_BYTES = 64 * 1024
    body, header = signed(_padded_event(64 * 1024), secret=_secret(url))

    assert _post(client, url, body, header).status_code == 200
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize("url", [PLATFORM, CONNECT])
@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_a_signed_body_nested_too_deep_is_refused(url, depth, client):
    body = '{"id": "evt_deep", "type": "x", "data": ' + "[" * depth + "]" * depth + "}"
    body, header = signed(body, secret=_secret(url))

    _refused(_post(client, url, body, header))
