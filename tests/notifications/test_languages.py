"""Notifications in their reader's language (issue 14, item 2): push texts, the stored
notification and the e-mail of a German shipper are German, whoever caused them; a recipient
without an account reads the parcel's recipient_language."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from marketplace.notifications.models import Notification
from tests.factories.accounts import ShipperFactory
from tests.factories.matching import assigned, line_trip, parcel_near

pytestmark = pytest.mark.django_db


def test_a_german_shipper_hears_in_german_whatever_language_the_courier_uses(
    django_capture_on_commit_callbacks,
):
    # given: a German shipper's parcel, accepted by a courier whose request speaks French
    shipper = ShipperFactory(language="de", email="greta@example.com")
    parcel = parcel_near(shipper=shipper, recipient_email="ben@example.com")
    trip = line_trip()

    # when
    with translation.override("fr"), django_capture_on_commit_callbacks(execute=True):
        assigned(parcel, trip.courier)

    # then: the notification, the push and the e-mail are German
    notice = Notification.objects.get(user=shipper, kind="parcel_assigned")
    assert notice.title == f"Ein Kurier übernimmt Paket #{parcel.pk}"
    assert " holt es gegen " in notice.body
    (email,) = [m for m in mail.outbox if m.to == ["greta@example.com"]]
    assert email.subject == notice.title
    # and the courier's own offer texts were in the courier's language (the operator's)
    offer = Notification.objects.get(user=trip.courier, kind="offer_new")
    assert offer.title == "A parcel fits your trip"
    # the recipient (no language given) reads the operator's language
    (recipient,) = [m for m in mail.outbox if m.to == ["ben@example.com"]]
    assert recipient.subject.startswith("Your parcel from")


def test_a_french_recipient_reads_french(django_capture_on_commit_callbacks):
    parcel = parcel_near(recipient_email="ben@example.com", recipient_language="fr-BE")

    with django_capture_on_commit_callbacks(execute=True):
        assigned(parcel, line_trip().courier)

    (message,) = [m for m in mail.outbox if m.to == ["ben@example.com"]]
    assert message.subject.startswith("Votre colis de ")
    assert message.body.startswith("Bonjour Dora Dropoff,")
    assert "Suivez-le ici : " in message.body
