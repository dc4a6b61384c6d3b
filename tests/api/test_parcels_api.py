"""The shipper's parcels: create, list, view, edit, publish, cancel. Others' parcels are 404."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.parcels.models import Parcel, ParcelEvent, ParcelStatus
from tests.api.payloads import assert_error, parcel_payload
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, CHARLOTTENBURG
from tests.factories.parcels import make_parcel

pytestmark = pytest.mark.django_db

PARCELS = "/api/v1/parcels/"


def detail(parcel: Parcel, action: str = "") -> str:
    return f"{PARCELS}{parcel.pk}/" + (f"{action}/" if action else "")


def snapshot(parcel: Parcel) -> dict:
    """Every stored column of a parcel, plus its events, to compare before and after."""
    fresh = Parcel.objects.get(pk=parcel.pk)
    row = {f.attname: getattr(fresh, f.attname) for f in Parcel._meta.concrete_fields}
    row["events"] = list(fresh.events.values_list("from_status", "to_status"))
    return row


def test_create_a_parcel_publishes_it_with_a_quote(shipper_client, shipper, settings):
    # given
    settings.MARKETPLACE_CURRENCY = "CHF"

    # when
    response = shipper_client.post(PARCELS, parcel_payload(), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["is_editable"] is True
    assert body["published_at"] is not None
    assert body["currency"] == "CHF"
    for name in ("price_total", "platform_fee", "courier_share", "distance_m"):
        assert isinstance(body[name], int), name
    assert body["platform_fee"] + body["courier_share"] == body["price_total"]
    assert body["price_total"] >= settings.QUOTE_MINIMUM
    assert 5_000 < body["distance_m"] < 9_000  # Alexanderplatz -> Charlottenburg
    assert body["pickup_point"] == {"type": "Point", "coordinates": list(ALEXANDERPLATZ)}
    assert body["dropoff_point"] == {"type": "Point", "coordinates": list(CHARLOTTENBURG)}
    assert body["dimensions_cm"] == [45, 35, 20]
    assert body["photo"] is None

    parcel = Parcel.objects.get(pk=body["id"])
    assert parcel.shipper == shipper
    assert parcel.status == ParcelStatus.OPEN
    assert parcel.currency == "CHF"
    assert parcel.price_total == body["price_total"]
    events = list(parcel.events.values_list("from_status", "to_status"))
    assert events == [("", "draft"), ("draft", "open")]


def test_events_endpoint_lists_the_audit_trail(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    parcel_cancel(parcel=parcel, actor=shipper, reason="Changed my mind")

    # when
    response = shipper_client.get(detail(parcel, "events"))

    # then
    assert response.status_code == 200
    assert [(e["from_status"], e["to_status"]) for e in response.json()] == [
        ("", "draft"),
        ("draft", "open"),
        ("open", "cancelled"),
    ]
    assert "Changed my mind" in response.json()[-1]["note"]


def test_create_with_publish_false_keeps_a_draft_and_publish_opens_it(shipper_client):
    # when
    response = shipper_client.post(PARCELS, parcel_payload(publish=False), format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["published_at"] is None
    parcel = Parcel.objects.get(pk=body["id"])
    assert parcel.status == ParcelStatus.DRAFT
    assert parcel.events.count() == 1

    # when
    published = shipper_client.post(detail(parcel, "publish"))

    # then
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "open"
    assert published.json()["published_at"] is not None
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.OPEN
    assert list(parcel.events.values_list("from_status", "to_status")) == [
        ("", "draft"),
        ("draft", "open"),
    ]


def test_publishing_an_open_parcel_again_is_409(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    before = snapshot(parcel)

    # when
    response = shipper_client.post(detail(parcel, "publish"))

    # then
    assert_error(response, 409, code="transition_not_allowed")
    assert snapshot(parcel) == before


def test_list_shows_only_my_parcels(shipper_client, shipper):
    # given
    mine = [make_parcel(shipper=shipper), make_parcel(shipper=shipper, publish=False)]
    theirs = make_parcel(shipper=ShipperFactory())

    # when
    response = shipper_client.get(PARCELS)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    ids = {p["id"] for p in body["results"]}
    assert ids == {p.pk for p in mine}
    assert theirs.pk not in ids


def test_list_is_paginated(shipper_client, shipper):
    # given
    for _ in range(3):
        make_parcel(shipper=shipper)

    # when
    first = shipper_client.get(PARCELS, {"page_size": 2}).json()

    # then
    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"] is not None and "page=2" in first["next"]

    # when
    second = shipper_client.get(first["next"]).json()

    # then
    assert len(second["results"]) == 1
    assert second["next"] is None
    all_ids = {p["id"] for p in first["results"] + second["results"]}
    assert len(all_ids) == 3


def test_list_newest_first_by_default(shipper_client, shipper):
    # given
    older = make_parcel(shipper=shipper)
    newer = make_parcel(shipper=shipper)

    # when
    results = shipper_client.get(PARCELS).json()["results"]

    # then
    assert [p["id"] for p in results] == [newer.pk, older.pk]


def test_list_filters_by_status(shipper_client, shipper):
    # given
    draft = make_parcel(shipper=shipper, publish=False)
    open_ = make_parcel(shipper=shipper)
    cancelled = make_parcel(shipper=shipper)
    parcel_cancel(parcel=cancelled, actor=shipper)

    # when
    drafts = shipper_client.get(PARCELS, {"status": "draft"}).json()
    several = shipper_client.get(f"{PARCELS}?status=open&status=cancelled").json()

    # then
    assert [p["id"] for p in drafts["results"]] == [draft.pk]
    assert {p["id"] for p in several["results"]} == {open_.pk, cancelled.pk}


def test_list_with_an_unknown_status_filter_is_400(shipper_client, shipper):
    # given
    make_parcel(shipper=shipper)

    # when
    response = shipper_client.get(PARCELS, {"status": "lost"})

    # then
    error = assert_error(response, 400, code="invalid")
    assert "status" in error["fields"]


def test_list_orders_by_price(shipper_client, shipper):
    # given
    light = make_parcel(shipper=shipper, weight_grams=1_000)
    heavy = make_parcel(shipper=shipper, weight_grams=150_000, size_class="L")
    middle = make_parcel(shipper=shipper, weight_grams=40_000)
    assert light.price_total < middle.price_total < heavy.price_total

    # when
    ascending = shipper_client.get(PARCELS, {"ordering": "price_total"}).json()["results"]
    descending = shipper_client.get(PARCELS, {"ordering": "-price_total"}).json()["results"]

    # then
    assert [p["id"] for p in ascending] == [light.pk, middle.pk, heavy.pk]
    assert [p["id"] for p in descending] == [heavy.pk, middle.pk, light.pk]


def test_retrieve_my_parcel_shows_the_full_view(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)

    # when
    response = shipper_client.get(detail(parcel))

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == parcel.pk
    assert body["pickup_address"] == parcel.pickup_address
    assert body["pickup_contact_phone"] == parcel.pickup_contact_phone
    assert body["declared_value"] == parcel.declared_value


def test_retrieve_another_shippers_parcel_is_404(shipper_client):
    # given
    theirs = make_parcel(shipper=ShipperFactory())

    # when
    response = shipper_client.get(detail(theirs))

    # then
    assert_error(response, 404, code="not_found")
    assert "Alexanderplatz" not in response.content.decode()


def test_patch_while_open_requotes_when_the_weight_changes(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper, weight_grams=1_000)
    old_price = parcel.price_total

    # when
    response = shipper_client.patch(detail(parcel), {"weight_grams": 150_000}, format="json")

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["weight_grams"] == 150_000
    assert body["status"] == "open"
    assert body["price_total"] > old_price
    assert body["platform_fee"] + body["courier_share"] == body["price_total"]
    parcel.refresh_from_db()
    assert parcel.weight_grams == 150_000
    assert parcel.price_total == body["price_total"]
    assert parcel.platform_fee + parcel.courier_share == parcel.price_total


def test_patch_of_a_text_field_keeps_the_price(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)

    # when
    response = shipper_client.patch(
        detail(parcel), {"description": "Two boxes of books"}, format="json"
    )

    # then
    assert response.status_code == 200, response.content
    parcel.refresh_from_db()
    assert parcel.description == "Two boxes of books"
    assert response.json()["price_total"] == parcel.price_total


def test_patch_moving_the_dropoff_requotes_the_distance(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    near = {"type": "Point", "coordinates": [13.4230, 52.5219]}  # ~700 m east of the pickup

    # when
    response = shipper_client.patch(detail(parcel), {"dropoff_point": near}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert 500 < response.json()["distance_m"] < 1_000
    parcel.refresh_from_db()
    assert parcel.dropoff_point.coords == (13.4230, 52.5219)


def test_patch_another_shippers_parcel_is_404_and_changes_nothing(shipper_client):
    # given
    theirs = make_parcel(shipper=ShipperFactory())
    before = snapshot(theirs)

    # when
    response = shipper_client.patch(
        detail(theirs), {"weight_grams": 9_000, "description": "Mine now"}, format="json"
    )

    # then
    assert_error(response, 404)
    assert snapshot(theirs) == before


def test_patch_after_cancel_is_409_and_changes_nothing(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    parcel_cancel(parcel=parcel, actor=shipper)
    before = snapshot(parcel)

    # when
    response = shipper_client.patch(detail(parcel), {"weight_grams": 9_000}, format="json")

    # then
    assert_error(response, 409, code="not_editable")
    assert snapshot(parcel) == before


def test_patch_with_a_bad_window_is_400_and_changes_nothing(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    before = snapshot(parcel)

    # when
    response = shipper_client.patch(
        detail(parcel),
        {"pickup_window_end": (parcel.pickup_window_start - timedelta(minutes=5)).isoformat()},
        format="json",
    )

    # then
    error = assert_error(response, 400, code="invalid")
    assert "pickup_window_end" in error["fields"]
    assert snapshot(parcel) == before


def test_cancel_moves_the_parcel_to_cancelled_with_an_event(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)

    # when
    response = shipper_client.post(detail(parcel, "cancel"), {"reason": "Sent by post"})

    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["is_editable"] is False
    parcel.refresh_from_db()
    assert parcel.status == ParcelStatus.CANCELLED
    last = parcel.events.last()
    assert (last.from_status, last.to_status) == ("open", "cancelled")
    assert last.actor == shipper
    assert "Sent by post" in last.note


def test_cancel_a_draft(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper, publish=False)

    # when
    response = shipper_client.post(detail(parcel, "cancel"))

    # then
    assert response.status_code == 200, response.content
    assert Parcel.objects.get(pk=parcel.pk).status == ParcelStatus.CANCELLED


def test_cancel_twice_is_409_and_changes_nothing(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    shipper_client.post(detail(parcel, "cancel"))
    before = snapshot(parcel)

    # when
    response = shipper_client.post(detail(parcel, "cancel"))

    # then
    error = assert_error(response, 409, code="transition_not_allowed")
    assert "cancelled" in error["message"]
    assert response.json()["error"]["details"]["from"] == "cancelled"
    assert snapshot(parcel) == before


def test_cancel_another_shippers_parcel_is_404_and_changes_nothing(shipper_client):
    # given
    theirs = make_parcel(shipper=ShipperFactory())
    before = snapshot(theirs)

    # when
    response = shipper_client.post(detail(theirs, "cancel"))

    # then
    assert_error(response, 404)
    assert snapshot(theirs) == before


def test_delete_is_not_allowed_and_changes_nothing(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    before = snapshot(parcel)

    # when
    response = shipper_client.delete(detail(parcel))

    # then
    assert_error(response, 405, code="method_not_allowed")
    assert snapshot(parcel) == before


def test_a_courier_only_user_cannot_use_the_parcels_api(courier_client, courier):
    # given
    someones = make_parcel(shipper=ShipperFactory())
    before = snapshot(someones)
    parcels_before = Parcel.objects.count()

    # when
    listed = courier_client.get(PARCELS)
    created = courier_client.post(PARCELS, parcel_payload(), format="json")
    cancelled = courier_client.post(detail(someones, "cancel"))

    # then
    for response in (listed, created, cancelled):
        assert_error(response, 403, code="permission_denied")
    assert "shipper" in listed.json()["error"]["message"].lower()
    assert Parcel.objects.count() == parcels_before
    assert not Parcel.objects.filter(shipper=courier).exists()
    assert snapshot(someones) == before


def test_a_user_who_gains_the_shipper_role_can_post(courier):
    # given
    client = APIClient()
    client.force_authenticate(courier)
    assert client.patch("/api/v1/me/", {"is_shipper": True}).status_code == 200
    courier.refresh_from_db()

    # when
    response = client.post(PARCELS, parcel_payload(), format="json")

    # then
    assert response.status_code == 201, response.content
    assert Parcel.objects.get(pk=response.json()["id"]).shipper == courier


def test_quote_returns_a_split_that_adds_up(shipper_client, settings):
    # given
    settings.MARKETPLACE_CURRENCY = "EUR"
    body = {
        "pickup_point": {"type": "Point", "coordinates": list(ALEXANDERPLATZ)},
        "dropoff_point": {"type": "Point", "coordinates": list(CHARLOTTENBURG)},
        "size_class": "M",
        "weight_grams": 2_500,
        "delivery_window_end": (timezone.now() + timedelta(days=3)).isoformat(),
    }

    # when
    response = shipper_client.post("/api/v1/quotes/", body, format="json")

    # then
    assert response.status_code == 200, response.content
    quote = response.json()
    assert quote["currency"] == "EUR"
    assert quote["platform_fee"] + quote["courier_share"] == quote["price_total"]
    assert quote["size_factor"] == "1.30"
    assert quote["urgency_factor"] == "1.00"
    assert 5_000 < quote["distance_m"] < 9_000
    assert quote["valid_until"]
    assert not Parcel.objects.exists()


def test_quote_matches_the_price_of_the_posted_parcel(shipper_client):
    # given
    payload = parcel_payload()
    quote_body = {
        name: payload[name]
        for name in (
            "pickup_point",
            "dropoff_point",
            "size_class",
            "weight_grams",
            "delivery_window_end",
        )
    }

    # when
    quote = shipper_client.post("/api/v1/quotes/", quote_body, format="json").json()
    parcel = shipper_client.post(PARCELS, payload, format="json").json()

    # then
    assert quote["price_total"] == parcel["price_total"]
    assert quote["courier_share"] == parcel["courier_share"]


def test_a_courier_may_ask_for_a_quote_too(courier_client):
    # given
    body = {
        "pickup_point": {"type": "Point", "coordinates": list(ALEXANDERPLATZ)},
        "dropoff_point": {"type": "Point", "coordinates": list(CHARLOTTENBURG)},
        "size_class": "S",
        "weight_grams": 500,
        "delivery_window_end": (timezone.now() + timedelta(hours=2)).isoformat(),
    }

    # when
    response = courier_client.post("/api/v1/quotes/", body, format="json")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["urgency_factor"] == "1.50"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pickup_point": {"type": "Point"}}, "pickup_point"),
        ({"dropoff_point": {"type": "Point", "coordinates": [181, 52.5]}}, "dropoff_point"),
        ({"size_class": "XXL"}, "size_class"),
        ({"weight_grams": 0}, "weight_grams"),
        ({"weight_grams": 200_001}, "weight_grams"),
        ({"delivery_window_end": "yesterday-ish"}, "delivery_window_end"),
    ],
)
def test_quote_with_bad_input_is_400_naming_the_field(shipper_client, change, field):
    # given
    body = {
        "pickup_point": {"type": "Point", "coordinates": list(ALEXANDERPLATZ)},
        "dropoff_point": {"type": "Point", "coordinates": list(CHARLOTTENBURG)},
        "size_class": "M",
        "weight_grams": 2_500,
        "delivery_window_end": (timezone.now() + timedelta(days=1)).isoformat(),
        **change,
    }

    # when
    response = shipper_client.post("/api/v1/quotes/", body, format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert field in error["fields"]


def test_quote_with_nothing_names_every_required_field(shipper_client):
    # when
    response = shipper_client.post("/api/v1/quotes/", {}, format="json")

    # then
    error = assert_error(response, 400, code="invalid")
    assert set(error["fields"]) == {
        "pickup_point",
        "dropoff_point",
        "size_class",
        "weight_grams",
        "delivery_window_end",
    }


def test_editing_a_parcel_writes_no_status_event(shipper_client, shipper):
    # given
    parcel = make_parcel(shipper=shipper)
    events_before = ParcelEvent.objects.count()

    # when
    shipper_client.patch(detail(parcel), {"description": "Renamed"}, format="json")

    # then
    assert ParcelEvent.objects.count() == events_before


def test_a_courier_with_both_roles_sees_only_their_own_parcels(shipper):
    # given
    both = CourierFactory(is_shipper=True)
    mine = make_parcel(shipper=both)
    make_parcel(shipper=shipper)
    client = APIClient()
    client.force_authenticate(both)

    # when
    body = client.get(PARCELS).json()

    # then
    assert [p["id"] for p in body["results"]] == [mine.pk]


def test_the_list_shows_each_parcel_as_its_detail_does(shipper_client, shipper):
    # The list reads the points' coordinates in SQL and a page with its total in one query;
    # what it shows must not differ from the detail, which loads the full rows.
    parcels = [make_parcel(shipper=shipper) for _ in range(3)]
    make_parcel(shipper=shipper, publish=False)
    listed = shipper_client.get("/api/v1/parcels/", {"page_size": 2})
    assert listed.status_code == 200
    assert listed.json()["count"] == 4
    second = shipper_client.get("/api/v1/parcels/", {"page_size": 2, "page": 2}).json()
    rows = listed.json()["results"] + second["results"]
    assert len(rows) == 4
    for row in rows:
        assert row == shipper_client.get(f"/api/v1/parcels/{row['id']}/").json()
    first = next(row for row in rows if row["id"] == parcels[0].pk)
    assert first["pickup_point"] == {
        "type": "Point",
        "coordinates": [parcels[0].pickup_point.x, parcels[0].pickup_point.y],
    }
