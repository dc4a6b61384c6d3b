"""Stripe for the tests (any test may ask; registered in tests/conftest.py): localstripe on
loopback (started here when not already running) and FakeConnect for the Connect calls
localstripe lacks."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
import responses
from django.conf import settings

from tests.localstripe import listening, running_localstripe
from tests.payments.stripe_fakes import FakeConnect


@pytest.fixture(scope="session")
def localstripe_server():
    """The localstripe at settings.STRIPE_API_BASE: the one already listening there (`make run`'s),
    or one started for this session."""
    url = urlparse(settings.STRIPE_API_BASE)
    host, port = url.hostname or "127.0.0.1", url.port or 8420
    assert host in ("127.0.0.1", "localhost"), "tests only talk to a local Stripe"
    if listening(host, port):
        yield settings.STRIPE_API_BASE
        return
    with running_localstripe(port):
        yield settings.STRIPE_API_BASE


@pytest.fixture
def payments_on(settings, localstripe_server):
    """Shippers must pay before a parcel is offered (the product's default outside tests)."""
    settings.PAYMENTS_REQUIRED = True
    return settings


@pytest.fixture
def stripe_connect(localstripe_server):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeConnect(mock, localstripe_server)
