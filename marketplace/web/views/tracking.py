"""Tracking pages: the shipper's live map, and the recipient's public page behind a token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from marketplace.tracking import selectors, services
from marketplace.tracking.selectors import Role
from marketplace.web.views.returns import public_return_context


@require_GET
@login_required
def delivery_track(request: HttpRequest, pk: int) -> HttpResponse:
    """The parcel's shipper (or staff) follows the courier on a map. 404 for anyone else."""
    delivery = selectors.delivery_for_tracking(delivery_id=pk)
    role = selectors.tracking_role(delivery=delivery, user=request.user) if delivery else None
    if delivery is None or role not in (Role.SHIPPER, Role.STAFF):
        raise Http404("No such delivery.")
    parcel = delivery.parcel
    position = selectors.live_position_shown(delivery=delivery)
    eta, eta_live = selectors.expected_at(delivery=delivery, position=position)
    public_url = ""
    if role == Role.SHIPPER:
        link = services.tracking_link_get_or_create(delivery=delivery)
        public_url = request.build_absolute_uri(reverse("tracking:public_track", args=[link.token]))
    config: dict[str, Any] = {
        "mode": "shipper",
        "socket": f"/ws/deliveries/{delivery.pk}/track/",
        "route": selectors.route_between_stops(delivery=delivery),
        "pickup": [parcel.pickup_point.y, parcel.pickup_point.x],
        "dropoff": [parcel.dropoff_point.y, parcel.dropoff_point.x],
        "position": selectors.position_frame(position) if position else None,
        "status": selectors.status_frame(delivery=delivery),
    }
    context = {
        "delivery": delivery,
        "parcel": parcel,
        "position": position,
        "eta": eta,
        "eta_live": eta_live,
        "tracking": selectors.is_tracking(delivery),
        "public_url": public_url,
        "tracking_config": config,
    }
    return render(request, "tracking/delivery_track.html", context)


@require_GET
@never_cache
def public_track(request: HttpRequest, token: str) -> HttpResponse:
    """The recipient's page: status, ETA and an area of about 500 m. No names, no addresses,
    no exact position."""
    link = selectors.tracking_link_by_token(token=token)
    if link is None:
        raise Http404("No such tracking link.")
    delivery = link.delivery
    position = selectors.live_position_shown(delivery=delivery)
    frame = selectors.public_frame(delivery=delivery, position=position)
    eta, eta_live = selectors.expected_at(delivery=delivery, position=position)
    context = {
        **public_return_context(parcel=delivery.parcel),
        "token": link.token,
        "frame": frame,
        "eta": eta,
        "eta_live": eta_live,
        "tracking_config": {"mode": "public", "socket": f"/ws/track/{link.token}/", **frame},
    }
    return render(request, "tracking/public_track.html", context)
