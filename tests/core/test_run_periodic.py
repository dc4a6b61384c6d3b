"""`manage.py run_periodic`: the beat schedule's tasks run in-process (make run has no beat)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from marketplace.matching.models import Offer, OfferStatus
from marketplace.matching.services import offers_make_for_parcel
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db


def test_once_runs_every_scheduled_task_and_expires_old_offers(capsys):
    line_trip()
    parcel = parcel_near()
    offers_make_for_parcel(parcel_id=parcel.pk)
    Offer.objects.filter(parcel=parcel).update(expires_at=timezone.now() - timedelta(minutes=1))

    call_command("run_periodic", "--once")

    assert "expire-offers" in capsys.readouterr().out
    assert set(Offer.objects.filter(parcel=parcel).values_list("status", flat=True)) == {
        OfferStatus.EXPIRED
    }


def test_an_unknown_task_is_refused(settings):
    settings.CELERY_BEAT_SCHEDULE = {"x": {"task": "no.such.task", "schedule": 60.0}}
    with pytest.raises(CommandError, match=r"no task named no\.such\.task"):
        call_command("run_periodic", "--once")
