"""Returns on the web site: the shipper asks, approves or refuses from the parcel page; the
recipient asks from the public tracking page (token, no account)."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError
from marketplace.lifecycle import returning
from marketplace.parcels.models import Parcel
from marketplace.parcels.selectors import parcel_get_for_shipper
from marketplace.returns import selectors
from marketplace.returns.models import ParcelReturn
from marketplace.tracking.selectors import tracking_link_by_token
from marketplace.web.return_forms import RefuseForm, ReturnForm
from marketplace.web.views.common import shipper_required


def _parcel_page(pk: int) -> str:
    return reverse("web:parcel_detail", args=[pk]) + "#return"


def _own_parcel(request: HttpRequest, pk: int) -> Parcel:
    try:
        return parcel_get_for_shipper(shipper=cast(User, request.user), pk=pk)
    except Parcel.DoesNotExist as exc:
        raise Http404("No such parcel.") from exc


def _report(request: HttpRequest, exc: ApplicationError) -> None:
    details = [f"{' '.join(errors)}" for errors in (exc.fields or {}).values()]
    messages.error(request, " ".join([exc.message, *details]))


@require_POST
@shipper_required
def parcel_return_request(request: HttpRequest, pk: int) -> HttpResponse:
    parcel = _own_parcel(request, pk)
    form = ReturnForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(_parcel_page(parcel.pk))
    try:
        parcel_return = returning.return_request(
            parcel=parcel, actor=cast(User, request.user), **form.cleaned_data
        )
    except ApplicationError as exc:
        _report(request, exc)
        return redirect(_parcel_page(parcel.pk))
    messages.success(
        request,
        gettext("The return is booked. Pay for the way back below to offer it to couriers.")
        if parcel_return.reverse.status == "draft"
        else gettext("The return is booked and offered to couriers going that way."),
    )
    return redirect(reverse("web:parcel_detail", args=[parcel_return.reverse_id]))


def _return_of_own_parcel(request: HttpRequest, pk: int) -> ParcelReturn:
    parcel_return = get_object_or_404(ParcelReturn, pk=pk)
    _own_parcel(request, parcel_return.original_id)
    return parcel_return


@require_POST
@shipper_required
def return_approve(request: HttpRequest, pk: int) -> HttpResponse:
    parcel_return = _return_of_own_parcel(request, pk)
    try:
        returning.return_approve(parcel_return=parcel_return, actor=cast(User, request.user))
    except ApplicationError as exc:
        _report(request, exc)
    else:
        messages.success(request, gettext("Return approved."))
    return redirect(_parcel_page(parcel_return.original_id))


@require_POST
@shipper_required
def return_refuse(request: HttpRequest, pk: int) -> HttpResponse:
    parcel_return = _return_of_own_parcel(request, pk)
    form = RefuseForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors["reason"]))
        return redirect(_parcel_page(parcel_return.original_id))
    try:
        returning.return_refuse(
            parcel_return=parcel_return,
            actor=cast(User, request.user),
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        _report(request, exc)
    else:
        messages.success(request, gettext("Return refused; the recipient sees your reason."))
    return redirect(_parcel_page(parcel_return.original_id))


def public_return_context(*, parcel: Parcel) -> dict[str, object]:
    """For the recipient's tracking page: the return they asked for, or the form."""
    current = selectors.return_current(parcel=parcel)
    can_request = selectors.return_can_be_requested(parcel=parcel)
    return {
        "parcel_return": current if current and current.requested_by == "recipient" else None,
        "return_form": ReturnForm() if can_request else None,
        "return_closes_at": selectors.return_window_closes_at(parcel=parcel)
        if can_request
        else None,
    }


@require_POST
def public_return_request(request: HttpRequest, token: str) -> HttpResponse:
    link = tracking_link_by_token(token=token)
    if link is None:
        raise Http404("No such tracking link.")
    parcel = link.delivery.parcel
    form = ReturnForm(request.POST, request.FILES)
    error = ""
    if form.is_valid():
        try:
            returning.return_request_by_recipient(parcel=parcel, **form.cleaned_data)
        except ApplicationError as exc:
            error = exc.message
            for field, field_errors in (exc.fields or {}).items():
                for message in field_errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, gettext("Your return request is sent to the sender."))
            return redirect(reverse("tracking:public_track", args=[token]) + "#return")
    context = {"token": token, "form": form, "error": error, **public_return_context(parcel=parcel)}
    context["return_form"] = form
    return render(request, "returns/public_return_form.html", context, status=400)
