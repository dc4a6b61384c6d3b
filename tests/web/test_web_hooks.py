"""The merchant's webhook endpoint pages: the owner adds, edits, disables and re-enables
endpoints, rolls the secret, sends a test event to a real receiver on loopback and redelivers
from the paginated log; staff read only; other merchants, non-members, couriers and anonymous
visitors get nothing."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from marketplace.hooks import services
from marketplace.hooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories.accounts import CourierFactory, ShipperFactory
from tests.factories.merchants import MerchantMemberFactory
from tests.hooks.receiver import Receiver
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db
LIST = reverse("web:merchant_webhooks")


def page_of(endpoint):
    return reverse("web:merchant_webhook", args=[endpoint.pk])


def post_urls(endpoint, delivery):
    """Every POST of the pages, with data a valid change would send."""
    return [
        (LIST, {"url": "http://127.0.0.1:9/new", "mode": "live"}),
        (page_of(endpoint), {"url": "http://127.0.0.1:9/x", "description": "changed"}),
        (reverse("web:merchant_webhook_roll_secret", args=[endpoint.pk]), {}),
        (reverse("web:merchant_webhook_test", args=[endpoint.pk]), {}),
        (reverse("web:merchant_webhook_redeliver", args=[endpoint.pk, delivery.pk]), {}),
    ]


def snapshot():
    """What a refused POST must leave as it was."""
    endpoints = list(
        WebhookEndpoint.objects.order_by("pk").values_list(
            "pk", "url", "description", "event_types", "is_active", "secret"
        )
    )
    deliveries = list(
        WebhookDelivery.objects.order_by("pk").values_list("pk", "status", "next_attempt_at")
    )
    return endpoints, deliveries


def flash(response):
    """The newest message waiting after a POST (earlier ones wait too until a page shows them)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


@pytest.fixture
def owner():
    return MerchantMemberFactory()


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner.user)
    return client


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def endpoint_of(owner, url="http://127.0.0.1:9/hooks", **fields):
    return services.endpoint_create(merchant=owner.merchant, mode="live", url=url, **fields)


def test_the_merchant_page_links_to_the_endpoints(owner_client):
    page = owner_client.get(reverse("web:merchant")).content.decode()
    assert f'href="{LIST}"' in page


def test_the_owner_adds_endpoints_of_both_modes(owner_client, owner):
    page = owner_client.get(LIST)
    assert page.status_code == 200 and b'data-testid="endpoint-form"' in page.content
    assert b'value="webhook.test"' not in page.content  # not offered as a checkbox
    response = owner_client.post(
        LIST,
        {
            "url": "http://127.0.0.1:9/hooks",
            "description": "ERP",
            "event_types": ["delivery.delivered", "return.requested"],
            "mode": "test",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == page_of(endpoint)
    assert (endpoint.merchant, endpoint.mode, endpoint.description) == (
        owner.merchant,
        "test",
        "ERP",
    )
    assert endpoint.event_types == ["delivery.delivered", "return.requested"]
    # Nothing ticked: every event.
    owner_client.post(LIST, {"url": "http://127.0.0.1:9/all", "mode": "live"})
    live = WebhookEndpoint.objects.get(mode="live")
    assert live.event_types == []
    listed = owner_client.get(LIST).content.decode()
    assert "127.0.0.1:9/all" in text_of(listed, "endpoints-live")
    assert "All events" in text_of(listed, f"endpoint-{live.pk}")
    assert "127.0.0.1:9/hooks" in text_of(listed, "endpoints-test")
    assert "127.0.0.1:9/hooks" not in text_of(listed, "endpoints-live")


def test_a_refused_url_is_a_form_error_and_nothing_is_stored(owner_client, settings):
    settings.HOOKS_ALLOW_LOOPBACK = False
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "ftp://example.com/hook"):
        response = owner_client.post(LIST, {"url": url, "mode": "live"})
        assert response.status_code == 200, url
        page = response.content.decode()
        assert 'data-testid="error-url"' in page and 'data-testid="error-summary"' in page
        assert url in page  # what was typed is kept
    settings.HOOKS_ALLOW_HTTP = False
    response = owner_client.post(LIST, {"url": "http://example.com/hook", "mode": "live"})
    assert "Use https." in text_of(response.content.decode(), "error-url")
    unknown = owner_client.post(
        LIST, {"url": "http://127.0.0.1:9/h", "mode": "live", "event_types": ["nope"]}
    )
    assert b'data-testid="error-event_types"' in unknown.content
    assert not WebhookEndpoint.objects.exists()


def test_the_owner_edits_an_endpoint(owner_client, owner):
    endpoint = endpoint_of(owner, event_types=["delivery.delivered"])
    page = owner_client.get(page_of(endpoint)).content.decode()
    ticked = re.findall(r'name="event_types" value="([^"]+)"[^>]*checked', page)
    assert ticked == ["delivery.delivered"]
    response = owner_client.post(
        page_of(endpoint),
        {
            "url": "http://localhost:9/v2/hooks",
            "description": "new ERP",
            "event_types": ["parcel.status_changed", "payment.refunded"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302 and flash(response) == "Endpoint saved."
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == ("http://localhost:9/v2/hooks", "new ERP")
    assert endpoint.event_types == ["parcel.status_changed", "payment.refunded"]
    # A refused URL leaves the endpoint as it was.
    response = owner_client.post(page_of(endpoint), {"url": "http://10.0.0.1/h", "is_active": "on"})
    assert response.status_code == 200 and b'data-testid="error-url"' in response.content
    endpoint.refresh_from_db()
    assert endpoint.url == "http://localhost:9/v2/hooks"
    assert endpoint.event_types == ["parcel.status_changed", "payment.refunded"]


def test_an_endpoint_for_test_events_only_stays_so_when_edited(owner_client, owner):
    endpoint = endpoint_of(owner, event_types=["webhook.test"])  # set through the API
    owner_client.post(
        page_of(endpoint), {"url": endpoint.url, "description": "x", "is_active": "on"}
    )
    endpoint.refresh_from_db()
    assert endpoint.description == "x" and endpoint.event_types == ["webhook.test"]


def test_disabled_by_failures_then_re_enabled_by_the_owner(
    owner_client, owner, receiver, settings, django_capture_on_commit_callbacks
):
    settings.HOOKS_DISABLE_AFTER_FAILURES = 2
    endpoint = endpoint_of(owner, url=receiver.url)
    receiver.secret = endpoint.secret
    receiver.script.extend([500, 500])
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            owner_client.post(reverse("web:merchant_webhook_test", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.consecutive_failures == 2
    listed = owner_client.get(LIST).content.decode()
    row = text_of(listed, f"endpoint-{endpoint.pk}")
    assert "Disabled" in row and "2 failed attempts in a row; last: 500" in row
    page = owner_client.get(page_of(endpoint)).content.decode()
    assert text_of(page, "endpoint-failures") == "2"
    assert "2 failed attempts" in text_of(page, "disabled-reason")
    # Editing the description alone does not re-enable it nor forget the failures.
    owner_client.post(page_of(endpoint), {"url": endpoint.url, "description": "still off"})
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.consecutive_failures == 2
    response = owner_client.post(
        page_of(endpoint), {"url": endpoint.url, "description": "on", "is_active": "on"}
    )
    assert flash(response) == "Endpoint re-enabled: its failure count starts again from 0."
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0
    assert endpoint.disabled_at is None and endpoint.disabled_reason == ""
    # The owner turns it off: nothing to report but the switch.
    response = owner_client.post(page_of(endpoint), {"url": endpoint.url, "description": "on"})
    assert flash(response).startswith("Endpoint disabled")
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_reason == ""
    listed = owner_client.get(LIST).content.decode()
    assert 'data-active="no"' in listed
    # A test event for a disabled endpoint is kept, not sent.
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("web:merchant_webhook_test", args=[endpoint.pk]))
    assert flash(response).startswith("Queued: it is sent once you turn the endpoint on")
    assert endpoint.deliveries.order_by("-pk").first().attempts == 0


def test_rolling_the_secret_changes_it(owner_client, owner):
    endpoint = endpoint_of(owner)
    old = endpoint.secret
    assert text_of(owner_client.get(page_of(endpoint)).content.decode(), "secret-text") == old
    response = owner_client.post(reverse("web:merchant_webhook_roll_secret", args=[endpoint.pk]))
    assert response.status_code == 302 and flash(response).startswith("New signing secret")
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    assert text_of(owner_client.get(page_of(endpoint)).content.decode(), "secret-text") == (
        endpoint.secret
    )


def test_a_test_event_arrives_and_the_log_shows_it(
    owner_client, owner, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_of(owner, url=receiver.url)
    receiver.secret = endpoint.secret
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("web:merchant_webhook_test", args=[endpoint.pk]))
    assert response.status_code == 302 and response["Location"].startswith(page_of(endpoint))
    assert flash(response) == "A test event is on its way: see it in the delivery log."
    assert receiver.types() == ["webhook.test"] and receiver.bad_signatures == 0
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "succeeded" and delivery.last_status_code == 200
    page = owner_client.get(page_of(endpoint)).content.decode()
    row = text_of(page, f"delivery-{delivery.pk}")
    assert "webhook.test" in row and str(delivery.event_id) in row and "Delivered" in row
    attempt = delivery.attempt_log.get()
    shown = text_of(page, f"attempt-{attempt.pk}")
    assert "200" in shown and f"{attempt.latency_ms} ms" in shown and "thanks" in shown


def test_redeliver_queues_it_again_and_the_log_shows_every_attempt(
    owner_client, owner, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_of(owner, url=receiver.url)
    receiver.secret = endpoint.secret
    receiver.script.append(503)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.test_event_send(endpoint=endpoint)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_status_code == 503
    redeliver = reverse("web:merchant_webhook_redeliver", args=[endpoint.pk, delivery.pk])
    with django_capture_on_commit_callbacks() as queued:
        response = owner_client.post(redeliver, {"page": "1"})
    assert response.status_code == 302
    assert response["Location"] == page_of(endpoint) + "?page=1#deliveries"
    assert len(queued) == 1  # the send, after commit
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    queued[0]()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert receiver.types() == ["webhook.test"]
    # A delivered one can be sent again too; the event keeps its id.
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(redeliver)
    assert [e["id"] for e in receiver.received] == [str(delivery.event_id)] * 2
    page = owner_client.get(page_of(endpoint)).content.decode()
    assert "3 attempts" in text_of(page, f"attempts-{delivery.pk}")
    codes = re.findall(r'data-testid="attempt-\d+" data-status-code="(\d*)"', page)
    assert codes == ["200", "200", "503"]  # newest first
    first = delivery.attempt_log.order_by("created_at").first()
    assert "nope" in text_of(page, f"attempt-{first.pk}")


def test_the_delivery_log_is_paginated(owner_client, owner):
    endpoint = endpoint_of(owner)
    deliveries = [services.test_event_send(endpoint=endpoint) for _ in range(27)]
    first = owner_client.get(page_of(endpoint)).content.decode()
    assert first.count('data-testid="delivery-') == 25
    assert f'data-testid="delivery-{deliveries[-1].pk}"' in first  # newest first
    assert "Page 1 of 2" in first
    second = owner_client.get(page_of(endpoint) + "?page=2").content.decode()
    assert second.count('data-testid="delivery-') == 2
    assert f'data-testid="delivery-{deliveries[0].pk}"' in second
    assert 'name="page" value="2"' in second  # redeliver comes back to this page


def test_staff_read_the_pages_and_every_post_is_refused(client, owner):
    endpoint = endpoint_of(owner)
    delivery = services.test_event_send(endpoint=endpoint)
    staff = MerchantMemberFactory(merchant=owner.merchant, role="staff")
    client.force_login(staff.user)
    listed = client.get(LIST)
    assert listed.status_code == 200 and b'data-testid="endpoint-form"' not in listed.content
    assert endpoint.url in text_of(listed.content.decode(), f"endpoint-{endpoint.pk}")
    page = client.get(page_of(endpoint))
    html = page.content.decode()
    assert page.status_code == 200 and f'data-testid="delivery-{delivery.pk}"' in html
    assert endpoint.secret not in html and "redeliver-" not in html
    assert "roll-secret-form" not in html and 'data-testid="endpoint-form"' not in html
    before = snapshot()
    for url, data in post_urls(endpoint, delivery):
        assert client.post(url, data).status_code == 404, url
    assert snapshot() == before


def test_another_merchant_s_owner_gets_404(client, owner):
    endpoint = endpoint_of(owner)
    delivery = services.test_event_send(endpoint=endpoint)
    other = MerchantMemberFactory()
    client.force_login(other.user)
    assert client.get(LIST).status_code == 200
    assert str(endpoint.pk) not in text_of(client.get(LIST).content.decode(), "endpoints-live")
    assert client.get(page_of(endpoint)).status_code == 404
    before = snapshot()
    for url, data in post_urls(endpoint, delivery)[1:]:
        assert client.post(url, data).status_code == 404, url
    # Nor with their own endpoint and this merchant's delivery.
    theirs = endpoint_of(other)
    stolen = reverse("web:merchant_webhook_redeliver", args=[theirs.pk, delivery.pk])
    assert client.post(stolen).status_code == 404
    assert snapshot()[1] == before[1]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_a_shipper_of_no_merchant_gets_404(client, owner):
    endpoint = endpoint_of(owner)
    client.force_login(ShipperFactory())
    assert client.get(LIST).status_code == 404
    assert client.get(page_of(endpoint)).status_code == 404
    assert client.post(LIST, {"url": "http://127.0.0.1:9/h", "mode": "live"}).status_code == 404
    assert WebhookEndpoint.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in(client, owner):
    endpoint = endpoint_of(owner)
    delivery = services.test_event_send(endpoint=endpoint)
    login = reverse("web:login")
    for url in (LIST, page_of(endpoint)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    before = snapshot()
    for url, data in post_urls(endpoint, delivery):
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    assert snapshot() == before


def test_a_courier_gets_the_shippers_only_page(client, owner):
    endpoint = endpoint_of(owner)
    client.force_login(CourierFactory())
    for url in (LIST, page_of(endpoint)):
        response = client.get(url)
        assert response.status_code == 403 and b'data-testid="not-shipper"' in response.content
    assert client.get(reverse("web:merchant")).status_code == 403  # as the merchant page does
