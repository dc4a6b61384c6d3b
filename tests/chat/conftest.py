"""Chat fixtures: a delivery with its shipper and courier, staff, sockets to the real ASGI app.

Every test gets a channel-layer prefix of its own on the real Redis layer: test runs on this
machine share Redis database 15 and their fresh databases hand out the same delivery ids, so
`chat-1` of one run must not reach the sockets of another.
"""

from __future__ import annotations

import copy
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from marketplace.accounts.models import User
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import delivering
from marketplace.payments.models import Payment, PaymentStatus
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.factories.matching import assigned, line_trip, parcel_near

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def _own_channel_layer_prefix(settings):
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"].setdefault("CONFIG", {})["prefix"] = f"chat-test-{uuid.uuid4().hex[:10]}"
    settings.CHANNEL_LAYERS = layers


@dataclass
class Chat:
    delivery: Delivery
    shipper: User
    courier: User

    @property
    def ws(self) -> str:
        return f"/ws/deliveries/{self.delivery.pk}/chat/"

    @property
    def messages_url(self) -> str:
        return f"/api/v1/deliveries/{self.delivery.pk}/messages/"


@pytest.fixture
def chat(db) -> Chat:
    """An assigned delivery: Sara ships, Kurt carries."""
    return make_chat()


def make_chat() -> Chat:
    shipper = ShipperFactory(full_name="Sara Shipper", phone="+49 30 5550101")
    courier = CourierFactory(full_name="Kurt Courier")
    trip = line_trip(courier=courier)
    delivery = assigned(parcel_near(shipper=shipper), trip.courier)
    return Chat(delivery=delivery, shipper=shipper, courier=courier)


@pytest.fixture
def staff(db) -> User:
    return UserFactory(full_name="Ada Admin", is_staff=True, is_shipper=False)


@pytest.fixture
def stranger(db) -> User:
    return ShipperFactory(full_name="Stan Stranger")


def api(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def token_path(path: str, user: User) -> str:
    """The mobile app's way in: the REST API's JWT access token in the query string."""
    return f"{path}?token={AccessToken.for_user(user)}"


def browser_headers(user: User | None) -> list[tuple[bytes, bytes]]:
    """The web page's way in: its Origin and the session cookie of a logged-in user."""
    if user is None:
        return [ORIGIN]
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def open_socket(path: str, headers: Any = None) -> tuple[WebsocketCommunicator, int | None]:
    """Connect; returns the communicator and None if the socket stays open, else the close code.
    (The chat consumer accepts and then closes a refused connection, so clients see the code.)"""
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return communicator, code
    if await communicator.receive_nothing(timeout=0.3):
        return communicator, None
    output = await communicator.receive_output(timeout=2)
    assert output["type"] == "websocket.close", output
    return communicator, output["code"]


def dispute(chat: Chat) -> Payment:
    """The parcel's payment with a card dispute open (money frozen)."""
    parcel = chat.delivery.parcel
    return Payment.objects.create(
        parcel=parcel,
        shipper=chat.shipper,
        status=PaymentStatus.DISPUTED,
        status_before_dispute=PaymentStatus.SUCCEEDED,
        amount=parcel.price_total,
        platform_fee=parcel.platform_fee,
        courier_share=parcel.courier_share,
        currency=parcel.currency,
        stripe_payment_intent_id=f"pi_{uuid.uuid4().hex[:16]}",
        client_secret="secret",
    )


def image_upload(
    fmt: str = "PNG", *, name: str | None = None, side: int = 8, exif: Any = None
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (side, side), (200, 120, 40))
    options = {"exif": exif} if exif is not None else {}
    picture.save(buffer, format=fmt, **options)
    ext = {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return SimpleUploadedFile(
        name or f"photo.{ext}", buffer.getvalue(), content_type=f"image/{ext}"
    )


def deliver(chat: Chat) -> Delivery:
    """Carry the parcel through the delivery services to the hand-over."""

    delivery, courier = chat.delivery, chat.courier
    delivering.delivery_confirm_pickup(delivery=delivery, actor=courier, code=delivery.pickup_code)
    delivering.delivery_start_transit(delivery=delivery, actor=courier)
    delivering.delivery_confirm_delivered(
        delivery=delivery, actor=courier, code=delivery.delivery_code
    )
    delivery.refresh_from_db()
    chat.delivery = delivery
    return delivery


def delivered_days_ago(chat: Chat, days: float) -> Delivery:
    """Delivered, with the hand-over `days` in the past (time passing, without a clock mock)."""
    from datetime import timedelta

    from django.utils import timezone

    deliver(chat)
    Delivery.objects.filter(pk=chat.delivery.pk).update(
        delivered_at=timezone.now() - timedelta(days=days)
    )
    chat.delivery.refresh_from_db()
    return chat.delivery
