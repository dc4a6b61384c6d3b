"""The merchant pages: set up, keys shown once and revoked, staff read only, CSV upload with its
progress status and per-row results."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.merchants.models import BulkUpload, Merchant, MerchantApiKey
from marketplace.parcels.models import Parcel
from tests.factories.accounts import ShipperFactory
from tests.factories.merchants import MerchantMemberFactory
from tests.merchants.helpers import DELIVERIES, delivery_body, key_client

pytestmark = pytest.mark.django_db


def csv_text(*refs_and_sizes):
    body = delivery_body()
    p, d = body["pickup_point"]["coordinates"], body["dropoff_point"]["coordinates"]
    header = (
        "external_reference,description,size_class,weight_grams,declared_value,pickup_lng,"
        "pickup_lat,pickup_address,pickup_contact_name,pickup_contact_phone,pickup_window_start,"
        "pickup_window_end,dropoff_lng,dropoff_lat,dropoff_address,dropoff_contact_name,"
        "dropoff_contact_phone,delivery_window_start,delivery_window_end"
    )
    lines = [header]
    for ref, size in refs_and_sizes:
        cells = [ref, "Box", size, 800, 1000, p[0], p[1], "Store", "Desk", "+49 1"]
        cells += [body["pickup_window_start"], body["pickup_window_end"], d[0], d[1], "Home"]
        cells += ["Kim", "+49 2", body["delivery_window_start"], body["delivery_window_end"]]
        lines.append(",".join(str(c) for c in cells))
    return "\n".join(lines).encode()


def test_a_shipper_sets_up_a_merchant_and_makes_a_key_shown_once(client):
    shipper = ShipperFactory()
    client.force_login(shipper)
    page = client.get("/merchant/")
    assert page.status_code == 200 and b"merchant-setup-form" in page.content
    response = client.post(
        "/merchant/",
        {"name": "Bakery", "contact_email": "b@example.com", "billing_mode": "invoice"},
    )
    assert response.status_code == 302
    merchant = Merchant.objects.get(name="Bakery")
    assert merchant.members.get().user == shipper
    client.post("/merchant/keys/", {"name": "till", "scope": "write", "mode": "live"})
    shown = client.get("/merchant/").content.decode()
    text = re.search(r'data-testid="new-key-text">([^<]+)<', shown).group(1)
    assert key_client(text).get(DELIVERIES).status_code == 200
    assert text not in client.get("/merchant/").content.decode()  # only once
    prefix = MerchantApiKey.objects.get().prefix
    client.post(f"/merchant/keys/{prefix}/revoke/")
    assert MerchantApiKey.objects.get().revoked
    assert key_client(text).get(DELIVERIES).status_code == 401


def test_staff_read_and_cannot_change(client):
    owner = MerchantMemberFactory()
    staff = MerchantMemberFactory(merchant=owner.merchant, role="staff")
    client.force_login(staff.user)
    page = client.get("/merchant/")
    assert page.status_code == 200 and b"key-form" not in page.content
    assert client.post("/merchant/keys/", {"name": "x"}).status_code == 404
    upload = SimpleUploadedFile("a.csv", csv_text(("S-1", "S")), content_type="text/csv")
    assert client.post("/merchant/uploads/", {"file": upload, "mode": "live"}).status_code == 404
    assert not MerchantApiKey.objects.exists() and not BulkUpload.objects.exists()


def test_a_csv_upload_shows_progress_and_per_row_results(
    client, django_capture_on_commit_callbacks
):
    owner = MerchantMemberFactory()
    client.force_login(owner.user)
    upload = SimpleUploadedFile(
        "orders.csv", csv_text(("W-1", "S"), ("W-2", "ZZ"), ("W-3", "M")), content_type="text/csv"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/merchant/uploads/", {"file": upload, "mode": "live"})
    assert response.status_code == 302
    record = BulkUpload.objects.get()
    assert response["Location"] == f"/merchant/uploads/{record.pk}/"
    status = client.get(f"/merchant/uploads/{record.pk}/status/").json()
    assert status == {
        "status": "done",
        "total": 3,
        "processed": 3,
        "created": 2,
        "failed": 1,
        "error": "",
    }
    page = client.get(f"/merchant/uploads/{record.pk}/").content.decode()
    assert "<progress" in page and 'data-testid="row-2" data-status="invalid"' in page
    assert "size_class" in page
    assert set(Parcel.objects.values_list("external_reference", flat=True)) == {"W-1", "W-3"}
    other = MerchantMemberFactory()
    client.force_login(other.user)
    assert client.get(f"/merchant/uploads/{record.pk}/status/").status_code == 404


def test_a_broken_file_is_refused_with_a_message(client):
    owner = MerchantMemberFactory()
    client.force_login(owner.user)
    upload = SimpleUploadedFile("x.csv", b"\xff\xfe\x00", content_type="text/csv")
    response = client.post("/merchant/uploads/", {"file": upload, "mode": "live"}, follow=True)
    assert b"not UTF-8" in response.content
    assert not BulkUpload.objects.exists()
