"""Quotes that hold, Idempotency-Key (also under 20 concurrent retries), bulk JSON and CSV, and
card billing against localstripe."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from marketplace.lifecycle.ordering import merchant_card_save
from marketplace.merchants.idempotency import records_purge
from marketplace.merchants.models import BillingMode, IdempotencyRecord
from marketplace.parcels.models import HeldQuote, Parcel, ParcelStatus
from marketplace.payments.models import Payment, PaymentStatus
from tests.api.payloads import assert_error
from tests.concurrency import race
from tests.factories.merchants import merchant_with_key
from tests.merchants.helpers import DELIVERIES, delivery_body, key_client

pytestmark = pytest.mark.django_db
QUOTES = "/api/v1/quotes/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def quote_for(client, body):
    fields = ("pickup_point", "dropoff_point", "size_class", "weight_grams", "delivery_window_end")
    response = client.post(QUOTES, {k: body[k] for k in fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_held_quote_s_price_is_honoured_once(settings):
    _, key = merchant_with_key()
    client = key_client(key)
    body = delivery_body()
    quote = quote_for(client, body)
    assert uuid.UUID(quote["id"]) and quote["expires_at"]
    settings.QUOTE_BASE_FEE = 10_000  # the tariff changes after the quote
    response = client.post(DELIVERIES, {**body, "quote_id": quote["id"]}, format="json")
    assert response.status_code == 201, response.content
    parcel = Parcel.objects.get()
    assert parcel.price_total == quote["price_total"]
    assert HeldQuote.objects.get().parcel == parcel
    assert response.json()["quote_id"] == quote["id"]
    again = client.post(DELIVERIES, {**body, "quote_id": quote["id"]}, format="json")
    assert_error(again, 409, code="quote_used")
    assert Parcel.objects.count() == 1


def test_expired_mismatched_unknown_and_foreign_quotes_are_refused(settings):
    _, key = merchant_with_key()
    client = key_client(key)
    body = delivery_body()
    quote = quote_for(client, body)
    heavier = {**body, "weight_grams": 5000, "quote_id": quote["id"]}
    error = assert_error(
        client.post(DELIVERIES, heavier, format="json"), 409, code="quote_mismatch"
    )
    assert error["details"] == {"fields": ["weight_grams"]}
    _, other = merchant_with_key()
    foreign = key_client(other).post(DELIVERIES, {**body, "quote_id": quote["id"]}, format="json")
    assert_error(foreign, 404, code="quote_not_found")
    unknown = {**body, "quote_id": str(uuid.uuid4())}
    assert_error(client.post(DELIVERIES, unknown, format="json"), 404, code="quote_not_found")
    HeldQuote.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.post(DELIVERIES, {**body, "quote_id": quote["id"]}, format="json")
    assert_error(expired, 409, code="quote_expired")
    assert not Parcel.objects.exists()


def test_shippers_get_held_quotes_too(shipper_client):
    body = delivery_body()
    fields = ("pickup_point", "dropoff_point", "size_class", "weight_grams", "delivery_window_end")
    response = shipper_client.post(QUOTES, {k: body[k] for k in fields}, format="json")
    assert response.status_code == 200
    held = HeldQuote.objects.get(pk=response.json()["id"])
    assert held.merchant is None and held.price_total == response.json()["price_total"]


def test_an_idempotency_key_replays_the_first_reply():
    _, key = merchant_with_key()
    client = key_client(key)
    body = delivery_body(external_reference="I-1")
    first = client.post(DELIVERIES, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post(DELIVERIES, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Parcel.objects.count() == 1
    other_body = {**body, "weight_grams": 999}
    reused = client.post(DELIVERIES, other_body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(reused, 422, code="idempotency_key_reused")
    # a refusal is replayed too
    bad = {**body, "external_reference": "I-2", "size_class": "ZZ"}
    r1 = client.post(DELIVERIES, bad, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    r2 = client.post(DELIVERIES, bad, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert r1.status_code == r2.status_code == 400 and r2["Idempotent-Replayed"] == "true"
    assert Parcel.objects.count() == 1


def test_idempotency_keys_are_kept_24_hours(settings):
    _, key = merchant_with_key()
    client = key_client(key)
    client.post(DELIVERIES, delivery_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    client.post(DELIVERIES, delivery_body(), format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_with_one_key_create_one_parcel():
    _, key = merchant_with_key()
    body = delivery_body(external_reference="C-1")

    def attempt():
        return key_client(key).post(DELIVERIES, body, format="json", HTTP_IDEMPOTENCY_KEY="same")

    results, errors = race([attempt for _ in range(20)])
    assert not errors, errors
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(1 for r in results if r.get("Idempotent-Replayed") == "true") == 19
    assert Parcel.objects.count() == 1
    cache.clear()


def test_bulk_json_reports_each_row_and_keeps_only_the_good_ones():
    _, key = merchant_with_key()
    client = key_client(key)
    rows = [
        delivery_body(external_reference="B-1"),
        delivery_body(external_reference="B-2", size_class="XXL"),
        "not an object",
        delivery_body(external_reference="B-1"),  # taken by row 1
        delivery_body(external_reference="B-3", weight_grams=0),
        delivery_body(external_reference="B-4"),
    ]
    response = client.post(f"{DELIVERIES}bulk/", rows, format="json")
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["created"], body["invalid"]) == (2, 4)
    statuses = [(r["row"], r["status"]) for r in body["results"]]
    assert statuses == [
        (1, "created"),
        (2, "invalid"),
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
        (6, "created"),
    ]
    assert "size_class" in body["results"][1]["errors"]
    assert body["results"][3]["code"] == "external_reference_taken"
    assert "weight_grams" in body["results"][4]["errors"]
    refs = set(Parcel.objects.values_list("external_reference", flat=True))
    assert refs == {"B-1", "B-4"}


def test_bulk_csv_and_its_limits(settings):
    settings.MERCHANT_BULK_MAX_ROWS = 3
    _, key = merchant_with_key()
    client = key_client(key)
    good = delivery_body()
    header = (
        "external_reference,description,size_class,weight_grams,declared_value,pickup_lng,"
        "pickup_lat,pickup_address,pickup_contact_name,pickup_contact_phone,pickup_window_start,"
        "pickup_window_end,dropoff_lng,dropoff_lat,dropoff_address,dropoff_contact_name,"
        "dropoff_contact_phone,delivery_window_start,delivery_window_end"
    )

    def line(ref, weight="900", lat=None):
        p, d = good["pickup_point"]["coordinates"], good["dropoff_point"]["coordinates"]
        cells = [ref, "Shoes", "S", weight, "5000", p[0], lat or p[1], "Store", "Desk", "+49 1"]
        cells += [good["pickup_window_start"], good["pickup_window_end"], d[0], d[1]]
        cells += [
            "Home",
            "Kim",
            "+49 2",
            good["delivery_window_start"],
            good["delivery_window_end"],
        ]
        return ",".join(str(c) for c in cells)

    text = "\n".join([header, line("CSV-1"), line("CSV-2", lat="north"), line("CSV-3")])
    file = SimpleUploadedFile("orders.csv", text.encode(), content_type="text/csv")
    response = client.post(f"{DELIVERIES}bulk/", {"file": file}, format="multipart")
    assert response.status_code == 207, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "created"]
    assert "pickup_point" in results[1]["errors"]
    assert set(Parcel.objects.values_list("external_reference", flat=True)) == {"CSV-1", "CSV-3"}
    too_many = [delivery_body() for _ in range(4)]
    assert_error(
        client.post(f"{DELIVERIES}bulk/", too_many, format="json"), 400, code="too_many_rows"
    )
    not_utf8 = SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", content_type="text/csv")
    response = client.post(f"{DELIVERIES}bulk/", {"file": not_utf8}, format="multipart")
    assert_error(response, 400, code="invalid_csv")
    assert_error(client.post(f"{DELIVERIES}bulk/", [], format="json"), 400)
    assert Parcel.objects.count() == 2


def test_card_billing_charges_the_saved_card_into_escrow(payments_on):
    merchant, key = merchant_with_key()
    merchant.billing_mode = BillingMode.CARD
    merchant.save()
    client = key_client(key)
    no_card = client.post(DELIVERIES, delivery_body(), format="json")
    assert_error(no_card, 402, code="no_card_on_file")
    merchant_card_save(merchant=merchant, payment_method_id="pm_card_visa")
    response = client.post(DELIVERIES, delivery_body(), format="json")
    assert response.status_code == 201, response.content
    parcel = Parcel.objects.get()
    assert parcel.status == ParcelStatus.OPEN
    payment = Payment.objects.get(parcel=parcel)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.amount == parcel.price_total


def test_a_declined_saved_card_stores_nothing(payments_on):
    merchant, key = merchant_with_key()
    merchant.billing_mode = BillingMode.CARD
    merchant.save()
    merchant_card_save(merchant=merchant, payment_method_id="pm_card_chargeCustomerFail")
    response = key_client(key).post(DELIVERIES, delivery_body(), format="json")
    assert_error(response, 402, code="payment_failed")
    assert not Parcel.objects.exists() and not Payment.objects.exists()


def test_invoice_merchants_open_without_payment_even_when_payments_are_required(payments_on):
    _, key = merchant_with_key()  # invoice mode
    response = key_client(key).post(DELIVERIES, delivery_body(), format="json")
    assert response.status_code == 201
    assert Parcel.objects.get().status == ParcelStatus.OPEN
    assert not Payment.objects.exists()
