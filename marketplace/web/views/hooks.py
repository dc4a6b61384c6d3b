"""The merchant's webhook endpoint pages: the list of its live and test endpoints with a form to
add one, and one endpoint's settings, signing secret, test event and delivery log (with
redelivery). Owners change things; staff members read (without the secret); anyone else gets
404. Every change goes through marketplace.hooks.services, and every POST redirects."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from marketplace.core.exceptions import ApplicationError
from marketplace.hooks import selectors, services
from marketplace.hooks.models import WebhookEndpoint
from marketplace.merchants.models import KeyMode, MerchantMember
from marketplace.web.hooks_forms import EndpointCreateForm, EndpointUpdateForm
from marketplace.web.views.common import shipper_required
from marketplace.web.views.merchant import _member, _owner

DELIVERIES_PER_PAGE = 25


def _any_member(request: HttpRequest) -> MerchantMember:
    member = _member(request)
    if member is None:
        raise Http404("You are not a member of a merchant.")
    return member


def _endpoint(member: MerchantMember, pk: int) -> WebhookEndpoint:
    endpoint = selectors.endpoint_of(merchant=member.merchant, endpoint_id=pk)
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


def _endpoint_url(endpoint: WebhookEndpoint, page: str | None = None) -> str:
    """The endpoint's page (at the delivery log's page `page`, when one is given)."""
    url = reverse("web:merchant_webhook", kwargs={"pk": endpoint.pk})
    return f"{url}?page={int(page)}#deliveries" if page and page.isdigit() else url


@shipper_required
def hooks_endpoints(request: HttpRequest) -> HttpResponse:
    member = _any_member(request)
    if request.method == "POST":
        member = _owner(request)
        form = EndpointCreateForm(request.POST)
        if form.is_valid():
            try:
                endpoint = services.endpoint_create(merchant=member.merchant, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request,
                    gettext("Endpoint %(url)s added. Verify its events with this secret.")
                    % {"url": endpoint.url},
                )
                return redirect(_endpoint_url(endpoint))
    else:
        form = EndpointCreateForm()
    context = {
        "member": member,
        "merchant": member.merchant,
        "sections": [
            {
                "mode": mode,
                "title": gettext("Live endpoints") if mode == "live" else gettext("Test endpoints"),
                "endpoints": selectors.endpoints_of(merchant=member.merchant, mode=mode),
            }
            for mode, label in KeyMode.choices
        ],
        "form": form,
    }
    return render(request, "web/hooks_endpoints.html", context)


def _updated_message(changes: dict[str, Any]) -> str:
    if changes.get("is_active") is True:
        return gettext("Endpoint re-enabled: its failure count starts again from 0.")
    if changes.get("is_active") is False:
        return gettext("Endpoint disabled: no events are sent to it until you turn it on again.")
    return gettext("Endpoint saved.")


@shipper_required
def hooks_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    member = _any_member(request)
    endpoint = _endpoint(member, pk)
    if request.method == "POST":
        _owner(request)
        form = EndpointUpdateForm(request.POST, endpoint=endpoint)
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, gettext("Nothing to save: the settings are as they were."))
                return redirect(_endpoint_url(endpoint))
            try:
                services.endpoint_update(endpoint=endpoint, **changes)
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _updated_message(changes))
                return redirect(_endpoint_url(endpoint))
    else:
        form = EndpointUpdateForm(endpoint=endpoint)
    deliveries = selectors.deliveries_of(endpoint=endpoint)
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "member": member,
        "merchant": member.merchant,
        "endpoint": endpoint,
        "form": form,
        "page": page,
        "deliveries": page.object_list,
    }
    return render(request, "web/hooks_endpoint.html", context)


def _owned_endpoint(request: HttpRequest, pk: int) -> WebhookEndpoint:
    return _endpoint(_owner(request), pk)


@shipper_required
@require_POST
def hooks_endpoint_roll_secret(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = services.endpoint_roll_secret(endpoint=_owned_endpoint(request, pk))
    messages.success(
        request,
        gettext("New signing secret: events are signed with it from now on, not the old one."),
    )
    return redirect(_endpoint_url(endpoint))


def _queued(request: HttpRequest, endpoint: WebhookEndpoint, sent: str) -> None:
    """The message after a delivery is queued: a disabled endpoint keeps it until it is on."""
    if endpoint.is_active:
        messages.success(request, sent)
    else:
        messages.warning(
            request,
            gettext("Queued: it is sent once you turn the endpoint on again (Active, above)."),
        )


@shipper_required
@require_POST
def hooks_endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _owned_endpoint(request, pk)
    services.test_event_send(endpoint=endpoint)
    _queued(request, endpoint, "A test event is on its way: see it in the delivery log.")
    return redirect(_endpoint_url(endpoint, "1"))


@shipper_required
@require_POST
def hooks_delivery_redeliver(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    endpoint = _owned_endpoint(request, pk)
    delivery = selectors.delivery_of(endpoint=endpoint, delivery_id=delivery_pk)
    if delivery is None:
        raise Http404("No such delivery.")
    services.redeliver(delivery=delivery)
    _queued(request, endpoint, f"Event {delivery.event_id} is sent again, with the same id.")
    return redirect(_endpoint_url(endpoint, request.POST.get("page")))
