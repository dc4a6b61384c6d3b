"""The merchants' admin pages load; a key made there is shown once and works; revoking works."""

import re

import pytest
from django.urls import reverse

from marketplace.accounts.models import User
from marketplace.merchants.models import IdempotencyRecord, MerchantApiKey
from marketplace.parcels.models import HeldQuote
from tests.factories.merchants import PickupLocationFactory, merchant_with_key
from tests.merchants.helpers import DELIVERIES, delivery_body, key_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    user = User.objects.create_superuser(
        email="boss@example.com", password="pw-12345678", full_name="Boss"
    )
    client.force_login(user)
    return client


def test_every_merchant_page_loads(boss):
    merchant, key = merchant_with_key()
    PickupLocationFactory(merchant=merchant)
    client = key_client(key)
    client.post(DELIVERIES, delivery_body(), format="json", HTTP_IDEMPOTENCY_KEY="a")
    body = delivery_body()
    fields = ("pickup_point", "dropoff_point", "size_class", "weight_grams", "delivery_window_end")
    client.post("/api/v1/quotes/", {k: body[k] for k in fields}, format="json")
    assert HeldQuote.objects.exists()
    objects = {
        "merchant": merchant,
        "pickuplocation": merchant.locations.get(),
        "merchantapikey": MerchantApiKey.objects.get(),
        "idempotencyrecord": IdempotencyRecord.objects.get(),
    }
    for model, obj in objects.items():
        assert boss.get(reverse(f"admin:merchants_{model}_changelist")).status_code == 200, model
        page = boss.get(reverse(f"admin:merchants_{model}_change", args=[obj.pk]))
        assert page.status_code == 200, model
    assert boss.get(reverse("admin:parcels_heldquote_changelist")).status_code == 200
    assert boss.get(reverse("admin:merchants_bulkupload_changelist")).status_code == 200


def test_a_key_made_in_the_admin_is_shown_once_and_works(boss):
    merchant, _ = merchant_with_key()
    response = boss.post(
        reverse("admin:merchants_merchantapikey_add"),
        {"merchant": merchant.pk, "name": "from admin", "scope": "read", "mode": "live"},
        follow=True,
    )
    assert response.status_code == 200
    text = re.search(r"wp_live_[A-Za-z0-9]{8}\.[A-Za-z0-9]+", response.content.decode()).group(0)
    key = MerchantApiKey.objects.get(name="from admin")
    assert key.scope == "read" and text.split("_")[2].startswith(key.prefix)
    assert key_client(text).get(DELIVERIES).status_code == 200
    boss.post(
        reverse("admin:merchants_merchantapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    assert MerchantApiKey.objects.get(pk=key.pk).revoked
    assert key_client(text).get(DELIVERIES).status_code == 401
