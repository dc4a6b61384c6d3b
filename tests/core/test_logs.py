"""Structured logs: one line per request with its id, user and parcel; one per task; JSON in
production format; Stripe's per-call INFO lines kept out."""

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from config.settings import base
from marketplace.matching.tasks import match_parcel
from tests.factories.accounts import ShipperFactory
from tests.factories.parcels import make_parcel


@pytest.fixture
def json_lines():
    """The project's LOGGING with the JSON formatter, written to a buffer."""
    config = json.loads(json.dumps(base.LOGGING, default=str))
    config["formatters"]["json"]["()"] = "pythonjsonlogger.json.JsonFormatter"
    config["filters"]["context"]["()"] = "marketplace.core.log_context.ContextFilter"
    buffer = io.StringIO()
    config["handlers"]["console"] = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context"],
        "stream": buffer,
    }
    previous = logging.root.handlers[:]
    logging.config.dictConfig(config)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.config.dictConfig(settings.LOGGING)
    logging.root.handlers = previous


@pytest.mark.django_db
def test_one_json_line_per_request_with_ids(json_lines):
    shipper = ShipperFactory()
    parcel = make_parcel(shipper=shipper)
    client = APIClient()
    client.force_authenticate(shipper)
    response = client.get(f"/api/v1/parcels/{parcel.pk}/", HTTP_X_REQUEST_ID="req-abc.123")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-abc.123"
    lines = [line for line in json_lines() if line["logger"] == "marketplace.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-abc.123"
    assert line["user_id"] == shipper.pk
    assert line["parcel_id"] == str(parcel.pk)
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["path"] == f"/api/v1/parcels/{parcel.pk}/"
    assert line["duration_ms"] >= 0 and line["level"] == "INFO"


@pytest.mark.django_db
def test_a_made_up_request_id_is_replaced(json_lines, client):
    response = client.get("/", HTTP_X_REQUEST_ID="bad id\nINFO forged line")
    request_id = response["X-Request-ID"]
    assert "\n" not in request_id and len(request_id) == 32
    lines = [line for line in json_lines() if line["logger"] == "marketplace.request"]
    assert lines[-1]["request_id"] == request_id
    assert lines[-1]["user_id"] is None


@pytest.mark.django_db
def test_one_line_per_task(json_lines):
    parcel = make_parcel(publish=False)
    match_parcel.delay(parcel.pk)
    lines = [line for line in json_lines() if line["logger"] == "marketplace.task"]
    assert lines[-1]["task"] == "marketplace.matching.tasks.match_parcel"
    assert lines[-1]["state"] == "SUCCESS"
    assert lines[-1]["task_id"]


def test_stripe_calls_are_not_logged_at_info():
    assert base.LOGGING["loggers"]["stripe"]["level"] == "WARNING"
    previous = logging.root.handlers[:]
    logging.config.dictConfig(base.LOGGING)
    try:
        assert not logging.getLogger("stripe").isEnabledFor(logging.INFO)
        assert logging.getLogger("marketplace.request").isEnabledFor(logging.INFO)
    finally:
        logging.config.dictConfig(settings.LOGGING)
        logging.root.handlers = previous
