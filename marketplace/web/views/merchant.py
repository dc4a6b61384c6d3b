"""The merchant pages: set up a merchant, its API keys (a new key is shown once), and CSV
uploads of deliveries with a progress bar. Owners change things; staff members read."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from marketplace.core.exceptions import ApplicationError
from marketplace.core.transactions import enqueue_on_commit
from marketplace.lifecycle.ordering import process_bulk_upload
from marketplace.merchants import services as merchants
from marketplace.merchants.models import BulkUpload, MerchantMember
from marketplace.parcels.delivery_input import CsvError, csv_rows
from marketplace.web.merchant_forms import ApiKeyForm, MerchantForm, UploadForm
from marketplace.web.views.common import current_user, shipper_required

NEW_KEY = "merchant_new_key"


def _member(request: HttpRequest) -> MerchantMember | None:
    return merchants.membership_of(current_user(request))


def _owner(request: HttpRequest) -> MerchantMember:
    member = _member(request)
    if member is None or not member.is_owner:
        raise Http404("Only the merchant's owner may do this.")
    return member


@shipper_required
def merchant_home(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    if member is None:
        form = MerchantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                merchants.merchant_create(owner=current_user(request), **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, gettext("Your merchant is set up. Create an API key next.")
                )
                return redirect("web:merchant")
        return render(request, "web/merchant_setup.html", {"form": form})
    context = {
        "member": member,
        "merchant": member.merchant,
        "keys": merchants.api_keys_of(member.merchant),
        "new_key": request.session.pop(NEW_KEY, None),
        "key_form": ApiKeyForm(),
        "upload_form": UploadForm(),
        "uploads": member.merchant.uploads.order_by("-created_at")[:10],
        "limits": merchants.merchant_key_limits(),
    }
    return render(request, "web/merchant.html", context)


@shipper_required
@require_POST
def merchant_key_create(request: HttpRequest) -> HttpResponse:
    member = _owner(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Give the key a name (at most 50 characters)."))
        return redirect("web:merchant")
    _, text = merchants.api_key_create(
        merchant=member.merchant, created_by=current_user(request), **form.cleaned_data
    )
    # Shown on the next page once, then gone: only its hash is kept.
    request.session[NEW_KEY] = text
    return redirect("web:merchant")


@shipper_required
@require_POST
def merchant_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    member = _owner(request)
    try:
        merchants.api_key_revoke(merchant=member.merchant, prefix=prefix)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    messages.success(
        request, gettext("Key %(prefix)s is revoked: it no longer works.") % {"prefix": prefix}
    )
    return redirect("web:merchant")


@shipper_required
@require_POST
def merchant_upload_create(request: HttpRequest) -> HttpResponse:
    member = _owner(request)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, gettext("Choose a CSV file."))
        return redirect("web:merchant")
    upload_file = form.cleaned_data["file"]
    try:
        rows = csv_rows(upload_file.read())
        upload = merchants.bulk_upload_create(
            merchant=member.merchant,
            uploaded_by=current_user(request),
            filename=upload_file.name or "upload.csv",
            mode=form.cleaned_data["mode"],
            rows=rows,
        )
    except (CsvError, ApplicationError) as exc:
        messages.error(request, str(getattr(exc, "message", exc)))
        return redirect("web:merchant")
    enqueue_on_commit(process_bulk_upload, upload.pk)
    return redirect("web:merchant_upload", pk=upload.pk)


def _upload(request: HttpRequest, pk: int) -> BulkUpload:
    member = _member(request)
    upload = BulkUpload.objects.filter(pk=pk, merchant__members=member).first() if member else None
    if upload is None:
        raise Http404("No such upload.")
    return upload


@shipper_required
def merchant_upload(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/merchant_upload.html", {"upload": _upload(request, pk)})


@shipper_required
def merchant_upload_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Polled by the upload page's progress bar."""
    upload = _upload(request, pk)
    return JsonResponse(
        {
            "status": upload.status,
            "total": upload.total,
            "processed": upload.processed,
            "created": upload.created,
            "failed": upload.failed,
            "error": upload.error,
        }
    )
