"""What the web site's pages share: who may see them, and the parcel a URL names."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from marketplace.accounts.models import User
from marketplace.parcels import selectors
from marketplace.parcels.models import Parcel

View = Callable[..., HttpResponse]


def shipper_required(view: View) -> View:
    """Logged in and allowed to post parcels (staff may look at every parcel)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = current_user(request)
        if not (user.is_shipper or user.is_staff):
            return render(request, "web/not_shipper.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def courier_required(view: View) -> View:
    """Logged in as a courier (payouts)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not current_user(request).is_courier:
            return render(request, "web/not_courier.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def current_user(request: HttpRequest) -> User:
    """The logged-in user (the views that call this require login)."""
    return cast(User, request.user)


def shipper_parcel(request: HttpRequest, pk: int) -> Parcel:
    """The user's own parcel, or any parcel for staff; 404 for everyone else."""
    try:
        return selectors.parcel_get_for_shipper(shipper=current_user(request), pk=pk)
    except Parcel.DoesNotExist as exc:
        raise Http404("No such parcel.") from exc


def own_parcel(request: HttpRequest, pk: int) -> Parcel:
    """The user's own parcel; 404 for everyone else, staff included (codes, ratings)."""
    parcel = shipper_parcel(request, pk)
    if parcel.shipper_id != current_user(request).pk:
        raise Http404("No such parcel.")
    return parcel
