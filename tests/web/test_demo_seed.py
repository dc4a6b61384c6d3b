"""The demo city that `make run` serves: with payments required, its parcels are paid at
localstripe (so couriers see them), once, and the site's test card is printed."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketplace.backoffice.management.commands.seed_demo import PARCELS
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.models import Payment, PaymentStatus

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_demo_parcels_are_paid_once_and_published(payments_on):
    output = seed()

    assert Parcel.objects.count() == len(PARCELS)
    assert set(Parcel.objects.values_list("status", flat=True)) == {ParcelStatus.OPEN}
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == len(PARCELS)
    assert f"{len(PARCELS)} paid" in output
    assert "card 4242 4242 4242 4242, expiry 12 / 30, CVC 123" in output

    again = seed()

    assert "0 parcels created, 0 paid" in again
    assert Payment.objects.count() == len(PARCELS)


def test_without_localstripe_the_demo_says_how_to_start_it(payments_on):
    payments_on.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(CommandError) as error:
        seed()

    message = str(error.value)
    assert "Could not pay the demo parcel" in message
    assert "http://127.0.0.1:9" in message
    assert "scripts/run_localstripe.py" in message
    assert not Payment.objects.exists()
    assert set(Parcel.objects.values_list("status", flat=True)) == {ParcelStatus.DRAFT}


def test_without_payments_required_the_demo_parcels_open_at_once():
    output = seed()

    assert set(Parcel.objects.values_list("status", flat=True)) == {ParcelStatus.OPEN}
    assert not Payment.objects.exists()
    assert "4242" not in output
