"""Recipient notifications (issue 11, item 9): the parcel's recipient hears by e-mail (with the
tracking link) and text message when a courier is assigned, at pickup and on arrival, in their
language when given; each message once, none for test-mode parcels."""

from __future__ import annotations

import pytest
from django.core import mail

from marketplace.notifications.models import Channel, RecipientMessage
from marketplace.notifications.recipient_sending import recipient_message_send
from marketplace.notifications.sms import LoggingSmsProvider
from marketplace.parcels.models import Parcel
from marketplace.tracking.models import TrackingLink
from marketplace.tracking.recipients import recipient_tell
from marketplace.tracking.services import pings_record
from tests.tracking.helpers import DROPOFF, minutes_ago, new_delivery, pick_up, ping, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_sms_left():
    LoggingSmsProvider.sent = []


def recipient_mail(to: str = "ben@example.com") -> list:
    return [m for m in mail.outbox if m.to == [to]]


def test_the_recipient_hears_at_assignment_pickup_and_arrival(django_capture_on_commit_callbacks):
    # given: a courier accepts the parcel
    with django_capture_on_commit_callbacks(execute=True):
        delivery = new_delivery(recipient_email="ben@example.com")

    # then: an e-mail with the public tracking link, and a text message
    link = TrackingLink.objects.get(delivery=delivery)
    (assigned,) = recipient_mail()
    assert assigned.subject.startswith("Your parcel from")
    assert f"/t/{link.token}/" in assigned.body
    assert "delivery code" in assigned.body
    assert LoggingSmsProvider.sent[-1]["to"] == delivery.parcel.dropoff_contact_phone

    # when: picked up, then arriving near the drop-off
    with django_capture_on_commit_callbacks(execute=True):
        start(pick_up(delivery))
    with django_capture_on_commit_callbacks(execute=True):
        pings_record(
            delivery=delivery,
            courier=delivery.courier,
            pings=[ping(DROPOFF[0], DROPOFF[1] + 40, at=minutes_ago(1))],
        )

    # then
    subjects = [m.subject for m in recipient_mail()]
    assert subjects[1:] == ["Your parcel is on its way", "Your courier is arriving"]
    rows = RecipientMessage.objects.filter(parcel_id=delivery.parcel_id)
    assert sorted(rows.values_list("event", "channel")) == sorted(
        (event, channel)
        for event in ("assigned", "picked_up", "arriving")
        for channel in (Channel.EMAIL, Channel.SMS)
    )
    assert all(row.sent_at is not None for row in rows)


def test_the_recipients_language_is_used_when_given(django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        new_delivery(recipient_email="ben@example.com", recipient_language="de")

    # then
    (message,) = recipient_mail()
    assert message.subject.startswith("Ihr Paket von")
    assert "Hier verfolgen" in message.body


def test_a_language_without_templates_falls_back_to_english(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new_delivery(recipient_email="ben@example.com", recipient_language="fi")

    assert recipient_mail()[0].subject.startswith("Your parcel from")


def test_each_message_is_recorded_and_sent_once(django_capture_on_commit_callbacks):
    # given
    with django_capture_on_commit_callbacks(execute=True):
        delivery = new_delivery(recipient_email="ben@example.com")

    # when: the same step told again, and a message's task run again
    with django_capture_on_commit_callbacks(execute=True):
        again = recipient_tell(delivery=delivery, event="assigned")
    message = RecipientMessage.objects.get(parcel_id=delivery.parcel_id, channel=Channel.EMAIL)
    outcome = recipient_message_send(message.pk)

    # then
    assert again == []
    assert outcome == "already sent"
    assert len(recipient_mail()) == 1


def test_no_email_without_an_address_and_no_sms_when_turned_off(
    settings, django_capture_on_commit_callbacks
):
    # given
    settings.RECIPIENT_SMS = False

    # when
    with django_capture_on_commit_callbacks(execute=True):
        delivery = new_delivery()

    # then
    assert not RecipientMessage.objects.filter(parcel_id=delivery.parcel_id).exists()
    assert LoggingSmsProvider.sent == []


class FailingSms:
    def send(self, *, to: str, body: str) -> None:
        raise ConnectionError("provider down")


def test_a_failed_send_is_kept_with_its_error_and_sent_on_retry(settings):
    # given: the SMS provider is down when the step commits
    settings.SMS_PROVIDER = "tests.notifications.test_recipients.FailingSms"
    delivery = new_delivery()  # on-commit callbacks not run: the task is not sent yet
    message = RecipientMessage.objects.get(parcel_id=delivery.parcel_id, channel=Channel.SMS)

    # when
    with pytest.raises(ConnectionError):
        recipient_message_send(message.pk)

    # then
    message.refresh_from_db()
    assert (message.attempts, message.error, message.sent_at) == (1, "provider down", None)

    # when: the provider is back and the task retries
    settings.SMS_PROVIDER = "marketplace.notifications.sms.LoggingSmsProvider"
    assert recipient_message_send(message.pk) == "sent"

    # then
    message.refresh_from_db()
    assert message.attempts == 2 and message.error == "" and message.sent_at is not None
    assert LoggingSmsProvider.sent[-1]["to"] == message.to


def test_test_mode_parcels_tell_no_recipient():
    # given: a sandbox parcel (its recipient is made up)
    delivery = new_delivery(recipient_email="ben@example.com")
    RecipientMessage.objects.all().delete()
    Parcel.objects.filter(pk=delivery.parcel_id).update(is_test=True)
    delivery.parcel.refresh_from_db()

    # when
    told = recipient_tell(delivery=delivery, event="picked_up")

    # then
    assert told == []
    assert not RecipientMessage.objects.filter(parcel_id=delivery.parcel_id).exists()
