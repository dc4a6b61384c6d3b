"""Payments tests run against localstripe on loopback (started here when not already running)
and FakeConnect for the Connect calls localstripe lacks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import responses
from django.conf import settings

from tests.payments.stripe_fakes import FakeConnect

ROOT = Path(__file__).resolve().parents[2]


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def localstripe_server():
    url = urlparse(settings.STRIPE_API_BASE)
    host, port = url.hostname or "127.0.0.1", url.port or 8420
    assert host in ("127.0.0.1", "localhost"), "tests only talk to a local Stripe"
    process = None
    if not _listening(host, port):
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run_localstripe.py"), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not _listening(host, port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("localstripe did not start")
            time.sleep(0.1)
    yield settings.STRIPE_API_BASE
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def payments_on(settings, localstripe_server):
    """Shippers must pay before a parcel is offered (the product's default outside tests)."""
    settings.PAYMENTS_REQUIRED = True
    return settings


@pytest.fixture
def stripe_connect(localstripe_server):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeConnect(mock, localstripe_server)
