"""Retention (issue 14, "Personal data"): positions, chat photos, proof photos and signatures go
RETENTION_*_DAYS after their delivery finished, never from an open or disputed delivery; the
periodic task and the management command run the same purge, twice without harm."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from marketplace.chat.models import Message
from marketplace.chat.services import message_post
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import delivering
from marketplace.lifecycle.retention import IMAGE_REMOVED, retention_purge
from marketplace.lifecycle.tasks import purge_personal_data
from marketplace.payments.models import PaymentStatus
from marketplace.tracking.models import LivePosition, LocationPing
from marketplace.tracking.services import pings_record
from tests.factories.geo import offset
from tests.factories.matching import BERLIN, assigned, line_trip, parcel_near
from tests.payments.stripe_fakes import event, post_event
from tests.tracking.helpers import fresh, minutes_ago, pick_up, start

pytestmark = pytest.mark.django_db

NOTHING = {
    "positions": 0,
    "live_positions": 0,
    "chat_images": 0,
    "proof_photos": 0,
    "signatures": 0,
}


def png(name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 200)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


_places = iter(range(1, 1_000))


def new_delivery() -> Delivery:
    """An accepted parcel on a test route of its own (50 km from the others: no other trip
    is offered its parcel)."""
    origin = offset(BERLIN, east_m=0, north_m=50_000 * next(_places))
    return assigned(parcel_near(origin=origin), line_trip(origin=origin).courier)


def ping(delivery: Delivery, east_m: float, *, minutes: float) -> dict[str, object]:
    """A ping `east_m` along the delivery's own test route, `minutes` ago."""
    origin = delivery.trip.origin
    lon, lat = offset((origin.x, origin.y), east_m=east_m)
    return {"lat": lat, "lon": lon, "accuracy_m": 10.0, "at": minutes_ago(minutes).isoformat()}


def on_its_way(capture, delivery: Delivery | None = None) -> Delivery:
    """A delivery in transit with two positions and a photo-only chat message."""
    delivery = start(pick_up(delivery or new_delivery()))
    pings_record(
        delivery=delivery,
        courier=delivery.courier,
        pings=[ping(delivery, 2_500, minutes=2), ping(delivery, 3_000, minutes=1)],
    )
    with capture(execute=True):
        message_post(delivery=delivery, sender=delivery.parcel.shipper, image=png())
    return delivery


def handed_over(capture, *, days_ago: float, delivery: Delivery | None = None) -> Delivery:
    """`on_its_way`, then delivered with a photo and a signature `days_ago`."""
    delivery = on_its_way(capture, delivery)
    with capture(execute=True):
        delivering.delivery_confirm_delivered(
            delivery=fresh(delivery),
            actor=delivery.courier,
            code=delivery.delivery_code,
            photo=png("door.png"),
            signature=png("sig.png"),
        )
    Delivery.objects.filter(pk=delivery.pk).update(
        delivered_at=timezone.now() - timedelta(days=days_ago)
    )
    return fresh(delivery)


def traces(delivery: Delivery) -> dict[str, int]:
    delivery = fresh(delivery)
    return {
        "positions": LocationPing.objects.filter(delivery=delivery).count(),
        "live_positions": LivePosition.objects.filter(delivery=delivery).count(),
        "chat_images": Message.objects.filter(conversation__delivery=delivery)
        .exclude(image="")
        .count(),
        "proof_photos": int(bool(delivery.proof_photo)),
        "signatures": int(bool(delivery.signature_image)),
    }


def files(delivery: Delivery) -> list[Path]:
    delivery = fresh(delivery)
    images = [m.image for m in Message.objects.filter(conversation__delivery=delivery)]
    return [Path(f.path) for f in (delivery.proof_photo, delivery.signature_image, *images) if f]


def test_the_task_is_scheduled_and_the_defaults_are_documented():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-personal-data"]
    assert entry["task"] == "marketplace.lifecycle.tasks.purge_personal_data"
    assert (
        settings.RETENTION_POSITIONS_DAYS,
        settings.RETENTION_CHAT_IMAGES_DAYS,
        settings.RETENTION_PROOF_DAYS,
    ) == (30, 180, 365)
    doc = (Path(settings.BASE_DIR) / "docs" / "personal-data.md").read_text()
    for name in ("RETENTION_POSITIONS_DAYS", "RETENTION_CHAT_IMAGES_DAYS", "RETENTION_PROOF_DAYS"):
        assert name in doc


def test_each_kind_goes_after_its_own_retention_and_open_deliveries_keep_everything(
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    # given deliveries finished 400, 200 and 10 days ago, and one still on its way
    ancient = handed_over(capture, days_ago=400)
    old = handed_over(capture, days_ago=200)
    recent = handed_over(capture, days_ago=10)
    open_one = on_its_way(capture)
    full = {
        "positions": 2,
        "live_positions": 1,
        "chat_images": 1,
        "proof_photos": 1,
        "signatures": 1,
    }
    assert traces(ancient) == traces(old) == traces(recent) == full
    ancient_files = files(ancient)
    assert len(ancient_files) == 3 and all(f.exists() for f in ancient_files)

    # when
    with capture(execute=True):  # files are deleted after commit
        counts = retention_purge()

    # then
    assert counts == {
        "positions": 4,
        "live_positions": 2,
        "chat_images": 2,
        "proof_photos": 1,
        "signatures": 1,
    }
    assert traces(ancient) == NOTHING
    assert traces(old) == {**NOTHING, "proof_photos": 1, "signatures": 1}
    assert traces(recent) == full
    assert traces(open_one) == {**full, "proof_photos": 0, "signatures": 0}
    assert not any(f.exists() for f in ancient_files)
    # a photo-only message keeps a text, so the conversation still reads in order
    assert Message.objects.get(conversation__delivery=ancient).body == IMAGE_REMOVED


def test_a_dry_run_counts_and_deletes_nothing_and_the_command_prints_it(
    django_capture_on_commit_callbacks, capsys
):
    old = handed_over(django_capture_on_commit_callbacks, days_ago=400)

    counts = retention_purge(dry_run=True)
    call_command("purge_personal_data", "--dry-run")

    assert counts["positions"] == 2 and counts["proof_photos"] == 1
    assert "positions: would delete 2" in capsys.readouterr().out
    assert traces(old)["positions"] == 2 and traces(old)["signatures"] == 1
    call_command("purge_personal_data")
    assert traces(old) == NOTHING


def test_the_task_is_idempotent(django_capture_on_commit_callbacks):
    old = handed_over(django_capture_on_commit_callbacks, days_ago=400)

    first = purge_personal_data.delay().get()
    again = purge_personal_data.delay().get()

    assert first["positions"] == 2 and first["signatures"] == 1
    assert again == NOTHING
    assert traces(old) == NOTHING


def test_a_disputed_delivery_keeps_its_evidence(
    payments_on, stripe_connect, client, django_capture_on_commit_callbacks
):
    from tests.payments.helpers import assign, trip_and_parcel

    capture = django_capture_on_commit_callbacks
    trip, parcel, payment = trip_and_parcel(capture)
    delivery = handed_over(capture, days_ago=400, delivery=assign(parcel, trip))
    payment.refresh_from_db()
    data = stripe_connect.open_dispute(charge_id=payment.stripe_charge_id, amount=payment.amount)
    with capture(execute=True):
        assert post_event(client, event("charge.dispute.created", data)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.DISPUTED

    assert retention_purge() == NOTHING
    assert traces(delivery)["proof_photos"] == 1 and traces(delivery)["positions"] == 2
