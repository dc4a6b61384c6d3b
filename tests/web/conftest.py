"""Fixtures of the shipper web site tests: logged-in clients and the parcel form's POST data."""

import io
import random
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from marketplace.accounts.services import user_register
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG

# The payments harness (localstripe on loopback, PAYMENTS_REQUIRED on, FakeConnect for Connect).

PASSWORD = "parcel-post-Secret-93"


def register(email: str, **kwargs: Any):
    kwargs.setdefault("full_name", email.split("@")[0].title())
    return user_register(email=email, password=PASSWORD, **kwargs)


@pytest.fixture
def alice(db):
    """A shipper."""
    return register("alice@example.com", phone="+49 30 555 0101")


@pytest.fixture
def bob(db):
    """Another shipper, who must not see Alice's parcels."""
    return register("bob@example.com")


@pytest.fixture
def carl(db):
    """A courier without the shipper role."""
    return register("carl@example.com", is_shipper=False, is_courier=True, vehicle_type="car")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def local_input(value: datetime) -> str:
    """A datetime as a `datetime-local` input sends it, in the current time zone."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def parcel_post_data(**overrides: Any) -> dict[str, Any]:
    """What the post-a-parcel form sends: kilograms, major units, local times, map points."""
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=2)
    data: dict[str, Any] = {
        "description": "Box of books",
        "size_class": "M",
        "weight_kg": "2.5",
        "declared_value": "40.00",
        "pickup_address": "Alexanderplatz 1, 10178 Berlin",
        "pickup_contact_name": "Anna Sender",
        "pickup_contact_phone": "+49 30 1111111",
        "pickup_window_start": local_input(start),
        "pickup_window_end": local_input(start + timedelta(hours=2)),
        "dropoff_address": "Kaiserdamm 2, 14057 Berlin",
        "dropoff_contact_name": "Ben Receiver",
        "dropoff_contact_phone": "+49 30 2222222",
        "delivery_window_start": local_input(start + timedelta(hours=1)),
        "delivery_window_end": local_input(start + timedelta(days=2)),
        "prohibited_items_declared": "on",
        "pickup_lat": str(ALEXANDERPLATZ[1]),
        "pickup_lon": str(ALEXANDERPLATZ[0]),
        "dropoff_lat": str(CHARLOTTENBURG[1]),
        "dropoff_lon": str(CHARLOTTENBURG[0]),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def png_upload(
    name: str = "parcel.png", *, side: int = 8, noise: bool = False
) -> SimpleUploadedFile:
    """A real PNG; `noise` makes it incompressible, so it weighs about 3 * side * side bytes."""
    if noise:
        pixels = random.Random(42).randbytes(side * side * 3)
        image = Image.frombytes("RGB", (side, side), pixels)
    else:
        image = Image.new("RGB", (side, side), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


VOID_TAGS = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _TextOf(HTMLParser):
    def __init__(self, testid: str) -> None:
        super().__init__(convert_charrefs=True)
        self.testid, self.depth, self.found, self.chunks = testid, 0, False, []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if self.depth:
            self.depth += tag not in VOID_TAGS
        elif not self.found and ("data-testid", self.testid) in attrs:
            self.found, self.depth = True, 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.chunks.append(data)


def text_of(html: str, testid: str) -> str:
    """The text of the first element with `data-testid=testid`, spaces collapsed, as a browser
    shows it (entities decoded)."""
    parser = _TextOf(testid)
    parser.feed(html)
    assert parser.found, f"nothing with data-testid={testid}"
    return " ".join("".join(parser.chunks).split())
