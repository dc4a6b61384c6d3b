"""Erasing an account (issue 14, "Personal data"): refused with the reasons while something is
open, and nothing changes; once done no personal column of the person's rows holds anything
(checked against the declared registry, which itself is checked against every model), files
are gone, the other party's records and the ledger are intact, and a second erasure changes
nothing. Also the web page and the API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.gis.db import models as gis_models
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from marketplace.accounts.models import User
from marketplace.chat.models import Message
from marketplace.chat.services import message_post
from marketplace.core.exceptions import ConflictError
from marketplace.deliveries.models import Delivery, Rating
from marketplace.deliveries.services import rating_create
from marketplace.lifecycle import delivering
from marketplace.lifecycle.erasure import (
    DELETE,
    ERASED_DOMAIN,
    NOT_PERSONAL,
    PERSONAL,
    UNLINK,
    account_erase,
    erasure_blockers,
    is_erased,
)
from marketplace.merchants.models import MerchantApiKey
from marketplace.merchants.services import api_key_create, merchant_create
from marketplace.parcels.models import Parcel
from marketplace.payments import ledger
from marketplace.payments.models import Payment, PaymentStatus, Transfer, TransferStatus
from marketplace.tracking.models import LocationPing
from marketplace.tracking.services import pings_record
from marketplace.trips.models import Trip, TripStatus
from tests.factories.accounts import PASSWORD, ShipperFactory
from tests.factories.matching import line_trip, parcel_near
from tests.payments.helpers import assign, carry, delivered_payment, trip_and_parcel
from tests.payments.stripe_fakes import event, post_event
from tests.tracking.helpers import fresh, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db

SCANNED = (models.CharField, models.TextField, models.FileField, gis_models.GeometryField)


def png(name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def registered() -> set[str]:
    return {f"{e.model._meta.label}.{name}" for e in PERSONAL for name in e.fields}


# --- the registry covers every model --------------------------------------------------------------


def test_every_text_file_and_place_column_of_a_model_pointing_at_a_user_is_declared():
    # given every model that is the user or points at one
    user_model = get_user_model()
    undeclared = []
    for model in apps.get_models():
        points_at_user = any(
            f.is_relation and f.related_model is user_model for f in model._meta.concrete_fields
        )
        # (an unmanaged model, such as the matching benchmark's BaselineTrip, reads a table that
        # its managed model declares)
        if (model is not user_model and not points_at_user) or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, SCANNED) and not isinstance(field, models.GeneratedField):
                key = f"{model._meta.label}.{field.name}"
                if key not in registered() and key not in NOT_PERSONAL:
                    undeclared.append(key)

    # then each one is either personal (erased) or allowed with a reason
    assert undeclared == []
    assert not registered() & set(NOT_PERSONAL), "a column cannot be both"
    assert all(reason.strip() for reason in NOT_PERSONAL.values())


# --- a person with a full history ----------------------------------------------------------------


@pytest.fixture
def history(django_capture_on_commit_callbacks):
    """A shipper and a courier who chatted (with photos), whose parcel was carried (positions
    sent), delivered with a photo and a signature and rated both ways; the courier's other trip is
    still planned; a bystander with a parcel of their own."""
    shipper = ShipperFactory(full_name="Shona Shipper", phone="+49 111")
    delivery = start(pick_up(new_delivery(shipper=shipper, recipient_email="rita@example.com")))
    courier = delivery.courier
    User.objects.filter(pk=courier.pk).update(full_name="Cora Courier", phone="+49 222")
    courier.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        message_post(delivery=delivery, sender=shipper, body="Ring twice, Shona", image=png())
        message_post(delivery=delivery, sender=courier, body="On my way, Cora", image=png())
    pings_record(
        delivery=delivery,
        courier=courier,
        pings=[ping(2_500, at=minutes_ago(2)), ping(3_000, at=minutes_ago(1))],
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivering.delivery_confirm_delivered(
            delivery=fresh(delivery),
            actor=courier,
            code=delivery.delivery_code,
            photo=png("door.png"),
            signature=png("sig.png"),
        )
    delivery = fresh(delivery)
    rating_create(delivery=delivery, rater=shipper, stars=5, comment="Quick, thanks Cora")
    rating_create(delivery=delivery, rater=courier, stars=4, comment="Nice, Shona")
    Parcel.objects.filter(pk=delivery.parcel_id).update(photo="parcels/box.png")
    planned = line_trip(courier=courier)
    bystander = new_delivery().parcel.shipper
    return shipper, courier, delivery, planned, bystander


def files_of(delivery: Delivery) -> list[Path]:
    return [Path(f.path) for f in (delivery.proof_photo, delivery.signature_image) if f]


def assert_nothing_personal_left(user: User) -> None:
    for entry in PERSONAL:
        rows = entry.rows(user)
        if entry.action in (DELETE, UNLINK):
            assert not rows.exists(), entry.model._meta.label
            continue
        for obj in rows:
            for name in entry.fields:
                field = entry.model._meta.get_field(name)
                value = getattr(obj, name)
                assert is_erased(field, value), f"{entry.model._meta.label}.{name} = {value!r}"


def test_erasing_a_shipper_leaves_no_personal_field_and_keeps_the_other_side(
    history, django_capture_on_commit_callbacks
):
    shipper, courier, delivery, _planned, bystander = history
    email, pk = shipper.email, shipper.pk
    proofs = files_of(delivery)
    message_image = Path(Message.objects.get(sender=shipper).image.path)
    assert all(p.exists() for p in [*proofs, message_image])

    with django_capture_on_commit_callbacks(execute=True):  # files go after commit
        erased = account_erase(user=shipper)

    assert erased.erased_at is not None and not erased.is_active
    assert erased.email == f"erased-{pk}@{ERASED_DOMAIN}" and email not in erased.email
    assert not erased.has_usable_password()
    assert_nothing_personal_left(erased)
    assert not any(p.exists() for p in [*proofs, message_image])
    parcel = Parcel.objects.get(pk=delivery.parcel_id)
    assert (parcel.shipper_id, parcel.pickup_address, parcel.recipient_email) == (pk, "", "")
    # the other party: their own message, rating and account are untouched
    theirs = Message.objects.get(sender=courier)
    assert theirs.body == "On my way, Cora" and theirs.image
    assert Message.objects.get(sender=erased).body == "[erased]"
    assert Rating.objects.get(rater=courier).comment == "Nice, Shona"
    courier.refresh_from_db()
    assert courier.full_name == "Cora Courier" and courier.erased_at is None
    # the delivery and its history stay, pointing at the anonymous account
    assert Delivery.objects.get(pk=delivery.pk).status == "delivered"
    assert parcel.events.filter(actor=erased).exists()
    assert bystander.parcels.get().pickup_address == "Pickup street 1"


def test_erasing_a_courier_deletes_positions_and_cancels_planned_trips(history):
    shipper, courier, delivery, planned, _bystander = history
    assert LocationPing.objects.filter(delivery=delivery).count() == 2

    erased = account_erase(user=courier)

    assert_nothing_personal_left(erased)
    assert not LocationPing.objects.filter(delivery=delivery).exists()
    assert Trip.objects.get(pk=planned.pk).status == TripStatus.CANCELLED
    assert Message.objects.get(sender=shipper).body == "Ring twice, Shona"
    assert Rating.objects.get(rater=shipper).comment == "Quick, thanks Cora"
    assert Parcel.objects.get(pk=delivery.parcel_id).pickup_address == "Pickup street 1"


def test_a_second_erasure_changes_nothing(history):
    shipper = history[0]
    first = account_erase(user=shipper)

    again = account_erase(user=first)

    assert again.erased_at == first.erased_at and again.email == first.email


def test_the_erased_person_cannot_log_in_and_their_tokens_are_blacklisted(history, client):
    shipper = history[0]
    refresh = RefreshToken.for_user(shipper)
    email = shipper.email

    account_erase(user=shipper)

    assert BlacklistedToken.objects.filter(token__jti=refresh["jti"]).exists()
    assert not client.login(username=email, password=PASSWORD)
    api = APIClient()
    assert api.post("/api/v1/auth/token/refresh/", {"refresh": str(refresh)}).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    assert api.get("/api/v1/me/").status_code == 401


def test_a_merchant_whose_only_owner_is_erased_is_closed_and_its_keys_revoked():
    owner = ShipperFactory()
    merchant = merchant_create(owner=owner, name="Shop", contact_email=owner.email)
    key, _raw = api_key_create(merchant=merchant, name="shop server", created_by=owner)

    account_erase(user=owner)

    merchant.refresh_from_db()
    key = MerchantApiKey.objects.get(pk=key.pk)
    assert not merchant.is_active and ERASED_DOMAIN in merchant.contact_email
    assert key.revoked and key.created_by is None
    assert not merchant.members.exists()


# --- refused while something is open -------------------------------------------------------------


def codes(user: User) -> set[str]:
    return {b.code for b in erasure_blockers(user=user)}


def assert_refused_and_unchanged(user: User, code: str) -> None:
    before = User.objects.get(pk=user.pk)
    parcels = list(Parcel.objects.filter(shipper=user).values_list("pickup_address", flat=True))
    with pytest.raises(ConflictError) as refused:
        account_erase(user=user)
    assert refused.value.code == "erasure_blocked"
    assert code in {r["code"] for r in refused.value.extra["reasons"]}
    after = User.objects.get(pk=user.pk)
    assert (after.email, after.full_name, after.is_active, after.erased_at) == (
        before.email,
        before.full_name,
        True,
        None,
    )
    assert list(Parcel.objects.filter(shipper=user).values_list("pickup_address", flat=True)) == (
        parcels
    )


def test_an_open_parcel_blocks_the_shipper():
    parcel = parcel_near()
    assert codes(parcel.shipper) == {"open_parcels"}
    assert_refused_and_unchanged(parcel.shipper, "open_parcels")


def test_a_parcel_on_its_way_blocks_both_sides():
    delivery = start(pick_up(new_delivery()))
    assert codes(delivery.courier) == {"open_deliveries"}
    assert_refused_and_unchanged(delivery.courier, "open_deliveries")
    assert_refused_and_unchanged(delivery.parcel.shipper, "open_parcels")


def test_money_held_in_escrow_blocks_the_shipper_and_the_courier(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # given a paid parcel handed over, whose release has not run yet (its on-commit task is
    # not run here)
    trip, parcel, payment = trip_and_parcel(django_capture_on_commit_callbacks)
    delivery = assign(parcel, trip)
    carry(delivery, trip.courier)
    delivering.delivery_confirm_delivered(
        delivery=fresh(delivery), actor=trip.courier, code=delivery.delivery_code
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    assert codes(parcel.shipper) == {"money_in_escrow"}
    assert_refused_and_unchanged(parcel.shipper, "money_in_escrow")
    assert_refused_and_unchanged(trip.courier, "money_in_escrow")


def test_an_open_dispute_blocks_the_shipper(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    _trip, _parcel, payment, _delivery = delivered_payment(capture)
    data = stripe_connect.open_dispute(charge_id=payment.stripe_charge_id, amount=payment.amount)
    with capture(execute=True):
        assert post_event(client, event("charge.dispute.created", data)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.DISPUTED

    assert "open_dispute" in codes(payment.shipper)
    assert_refused_and_unchanged(payment.shipper, "open_dispute")


def test_a_transfer_not_yet_sent_blocks_the_courier_and_the_ledger_stays_balanced(
    payments_on, stripe_connect, django_capture_on_commit_callbacks
):
    # given a delivered, released parcel whose courier has no payout account yet
    trip, parcel, payment, _delivery = delivered_payment(django_capture_on_commit_callbacks)
    assert payment.status == PaymentStatus.RELEASED
    assert Transfer.objects.get(courier=trip.courier).status == TransferStatus.WAITING
    before = ledger.balances()

    # then the courier waits for their money; the shipper may go
    assert codes(trip.courier) == {"pending_transfers"}
    assert_refused_and_unchanged(trip.courier, "pending_transfers")
    assert codes(parcel.shipper) == set()
    account_erase(user=parcel.shipper)

    assert ledger.total() == 0 and ledger.balances() == before
    assert ledger.balances(transaction__payment=payment) == {
        "courier_payable": -payment.courier_share,
        "platform_revenue": -payment.platform_fee,
        "stripe_balance": payment.amount,
    }
    kept = Payment.objects.get(pk=payment.pk)
    assert (kept.shipper_id, kept.amount, kept.status) == (
        parcel.shipper_id,
        payment.amount,
        PaymentStatus.RELEASED,
    )
    assert_nothing_personal_left(User.objects.get(pk=parcel.shipper_id))


# --- the web page and the API ------------------------------------------------------------------


def test_the_profile_page_erases_after_the_password_and_logs_out(history, client):
    shipper = history[0]
    client.force_login(shipper)
    assert b'data-testid="profile-erase"' in client.get(reverse("web:profile")).content
    page = client.get(reverse("web:account_erase"))
    assert page.status_code == 200 and b'data-testid="account-erase-form"' in page.content

    wrong = client.post(reverse("web:account_erase"), {"password": "not it"})
    assert wrong.status_code == 200 and b"That is not your password." in wrong.content
    assert User.objects.get(pk=shipper.pk).erased_at is None

    done = client.post(reverse("web:account_erase"), {"password": PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("web:account_erased")
    assert User.objects.get(pk=shipper.pk).erased_at is not None
    assert client.get(reverse("web:profile")).status_code == 302  # logged out
    assert b'data-testid="account-erased"' in client.get(reverse("web:account_erased")).content


def test_the_profile_page_shows_why_it_cannot_erase(client):
    parcel = parcel_near()
    client.force_login(parcel.shipper)
    page = client.get(reverse("web:account_erase"))
    assert b'data-testid="erase-blockers"' in page.content

    refused = client.post(reverse("web:account_erase"), {"password": PASSWORD})

    assert refused.status_code == 200
    assert b"not yet delivered or closed" in refused.content
    assert b'data-testid="error-summary"' in refused.content
    assert User.objects.get(pk=parcel.shipper_id).erased_at is None


def test_the_api_erases_with_the_password(history, api_client):
    shipper = history[0]
    api_client.force_authenticate(shipper)

    assert api_client.delete("/api/v1/me/", {}, format="json").status_code == 400
    wrong = api_client.delete("/api/v1/me/", {"password": "nope"}, format="json")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    assert User.objects.get(pk=shipper.pk).erased_at is None

    done = api_client.delete("/api/v1/me/", {"password": PASSWORD}, format="json")

    assert done.status_code == 204
    assert User.objects.get(pk=shipper.pk).erased_at is not None


def test_the_api_answers_409_with_the_reasons_while_blocked(api_client):
    delivery = new_delivery()
    api_client.force_authenticate(delivery.courier)

    refused = api_client.delete("/api/v1/me/", {"password": PASSWORD}, format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "erasure_blocked"
    assert [r["code"] for r in error["details"]["reasons"]] == ["open_deliveries"]
    assert User.objects.get(pk=delivery.courier_id).erased_at is None
