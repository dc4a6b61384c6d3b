"""/metrics for Prometheus: who may scrape it, and the business counters and histograms it
carries (counted at commit only), the Celery task metrics and a worker's own metrics port."""

from __future__ import annotations

import json
import re

import pytest
import requests
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from prometheus_client import REGISTRY
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from marketplace.bench.live.server import free_port
from marketplace.core import metrics
from marketplace.lifecycle.matching import offer_accept, offer_decline, offers_expire
from marketplace.matching.models import Offer
from marketplace.matching.services import offers_make_for_parcel
from marketplace.matching.tasks import match_parcel
from marketplace.payments.models import WebhookEvent
from marketplace.payments.webhooks import webhook_event_done
from marketplace.tracking.services import pings_record
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.matching import line_trip, parcel_near
from tests.factories.parcels import make_parcel
from tests.tracking.helpers import new_delivery, pick_up, ping, start


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- who may scrape ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_loopback_scrapes_by_ip_with_no_host_check(client):
    response = client.get("/metrics", HTTP_HOST="10.1.2.3:8000", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "waypost_parcels_created_total",
        "waypost_offers_total",
        "waypost_matching_seconds",
        "waypost_pings_total",
        "waypost_websocket_connections",
        "waypost_celery_tasks_total",
        "waypost_stripe_webhook_lag_seconds",
        "django_http_requests_total_by_method_total",
    ):
        assert f"# HELP {name}" in text, name


@pytest.mark.django_db
def test_other_addresses_proxied_requests_and_wrong_tokens_are_refused(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", **outside)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "metrics_forbidden"
    # through a proxy on loopback, anyone would look local: only the token lets it through
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert proxied.status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", **outside)
    assert wrong.status_code == 403
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **outside)
    assert right.status_code == 200 and b"waypost_offers_total" in right.content
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.django_db
def test_allowed_networks_come_from_the_setting(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


# --- what is counted -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_parcel_counts_when_its_transaction_commits_not_when_it_rolls_back(
    django_capture_on_commit_callbacks,
):
    before = value("waypost_parcels_created_total")
    with django_capture_on_commit_callbacks(execute=True):
        make_parcel(publish=False)
    assert value("waypost_parcels_created_total") == before + 1

    with pytest.raises(RuntimeError), transaction.atomic():
        make_parcel(publish=False)
        raise RuntimeError("the change is rolled back")
    assert value("waypost_parcels_created_total") == before + 1


@pytest.mark.django_db(transaction=True)
def test_offers_made_accepted_declined_expired_and_the_parcels_matched(settings):
    settings.MATCHING_OFFERS_PER_PARCEL = 3
    couriers = [CourierFactory() for _ in range(3)]
    for courier in couriers:
        line_trip(courier=courier)
    made, accepted, declined, expired = (
        value("waypost_offers_total", event=e) for e in ("made", "accepted", "declined", "expired")
    )
    matched = value("waypost_parcel_status_changes_total", to_status="matched")
    queries = value("waypost_matching_seconds_count", direction="parcel")

    parcel = parcel_near(shipper=ShipperFactory())
    offers_make_for_parcel(parcel_id=parcel.pk)
    offers = list(Offer.objects.filter(parcel=parcel).order_by("pk"))
    assert len(offers) == 3
    assert value("waypost_offers_total", event="made") == made + 3
    assert value("waypost_matching_seconds_count", direction="parcel") > queries

    offer_decline(offer_id=offers[0].pk, courier=offers[0].courier)
    assert value("waypost_offers_total", event="declined") == declined + 1
    Offer.objects.filter(pk=offers[1].pk).update(expires_at=offers[1].created_at)
    assert offers_expire() == 1
    assert value("waypost_offers_total", event="expired") == expired + 1
    offer_accept(offer_id=offers[2].pk, courier=offers[2].courier)
    assert value("waypost_offers_total", event="accepted") == accepted + 1
    assert value("waypost_parcel_status_changes_total", to_status="matched") == matched + 1


@pytest.mark.django_db(transaction=True)
def test_pings_are_counted_stored_and_rejected():
    delivery = start(pick_up(new_delivery()))
    stored, rejected = (
        value("waypost_pings_total", result="stored"),
        value("waypost_pings_total", result="rejected"),
    )
    result = pings_record(
        delivery=delivery, courier=delivery.courier, pings=[ping(3_000), {"lat": "x"}]
    )
    assert result.accepted == 1 and len(result.rejected) == 1
    assert value("waypost_pings_total", result="stored") == stored + 1
    assert value("waypost_pings_total", result="rejected") == rejected + 1


@pytest.mark.django_db(transaction=True)
def test_open_websockets_are_a_gauge():
    user = ShipperFactory()
    labels = {"consumer": "NotificationConsumer"}

    async def run() -> tuple[float, float, float]:
        before = value("waypost_websocket_connections", **labels)
        path = f"/ws/notifications/?token={AccessToken.for_user(user)}"
        communicator = WebsocketCommunicator(application, path)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        during = value("waypost_websocket_connections", **labels)
        await communicator.disconnect()
        return before, during, value("waypost_websocket_connections", **labels)

    before, during, after = async_to_sync(run)()
    assert during == before + 1 and after == before


@pytest.mark.django_db
def test_celery_tasks_and_the_stripe_webhook_lag_are_measured():
    name = "marketplace.matching.tasks.match_parcel"
    runs = value("waypost_celery_tasks_total", task=name, state="SUCCESS")
    timed = value("waypost_celery_task_seconds_count", task=name)
    match_parcel.delay(make_parcel(publish=False).pk)
    assert value("waypost_celery_tasks_total", task=name, state="SUCCESS") == runs + 1
    assert value("waypost_celery_task_seconds_count", task=name) == timed + 1

    lagged = value("waypost_stripe_webhook_lag_seconds_count")
    event = WebhookEvent.objects.create(
        event_id="evt_lag", type="payout.paid", endpoint="platform", payload={}
    )
    webhook_event_done(event)
    assert value("waypost_stripe_webhook_lag_seconds_count") == lagged + 1
    event.refresh_from_db()
    assert event.processed_at is not None


def test_a_worker_serves_its_metrics_on_its_own_port(settings):
    settings.CELERY_METRICS_PORT = port = free_port()
    server = metrics._serve_worker_metrics()
    assert server is not None
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert "# HELP waypost_celery_tasks_total" in text


@pytest.mark.django_db
def test_every_series_of_the_grafana_dashboard_is_exported(client):
    dashboard = json.loads((settings.BASE_DIR / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    names = {n for e in exprs for n in re.findall(r"\b((?:waypost|django)_\w+)\{?", e)}
    assert len(names) >= 10
    client.get("/")  # a request through the django-prometheus middlewares
    text = client.get("/metrics").content.decode()
    for name in names:
        family = name.removesuffix("_bucket")
        assert f"# HELP {family} " in text, name
