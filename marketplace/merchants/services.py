"""Merchants, their members and their API keys (writes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import (
    ApplicationError,
    ConflictError,
    NotAllowedError,
    NotFoundError,
)
from marketplace.merchants.models import (
    BillingMode,
    BulkUpload,
    BulkUploadStatus,
    KeyMode,
    KeyScope,
    MemberRole,
    Merchant,
    MerchantApiKey,
    MerchantMember,
    PickupLocation,
)

# A key is shown once as "wp_<mode>_<prefix>.<secret>"; the library stores prefix and hash.
KEY_PREFIX = "wp_"
# last_used_at is written at most this often per key, so busy keys do not write on every call.
KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def membership_of(user: User) -> MerchantMember | None:
    """The user's merchant membership, or None (anonymous users and plain shippers)."""
    if not user.is_authenticated:
        return None
    return MerchantMember.objects.select_related("merchant").filter(user=user).first()


def require_owner(user: User) -> MerchantMember:
    member = membership_of(user)
    if member is None:
        raise NotAllowedError(
            gettext("You are not a member of a merchant."), code="not_merchant_member"
        )
    if not member.is_owner:
        raise NotAllowedError(
            gettext("Only the merchant's owner may do this."), code="not_merchant_owner"
        )
    return member


def merchant_owner_user(merchant: Merchant) -> User | None:
    """The person deliveries made with the merchant's keys are posted as (its first owner)."""
    member = (
        merchant.members.filter(role=MemberRole.OWNER).select_related("user").order_by("id").first()
    )
    return member.user if member else None


@transaction.atomic
def merchant_create(
    *, owner: User, name: str, contact_email: str, billing_mode: str = "card"
) -> Merchant:
    """A new merchant with `owner` as its owner member. One person belongs to one merchant."""
    if not owner.is_shipper:
        raise NotAllowedError(gettext("Only shippers can run a merchant."), code="not_shipper")
    if MerchantMember.objects.filter(user=owner).exists():
        raise ConflictError(gettext("You already belong to a merchant."), code="already_member")
    merchant = Merchant.objects.create(
        name=name, contact_email=contact_email, billing_mode=billing_mode
    )
    MerchantMember.objects.create(merchant=merchant, user=owner, role=MemberRole.OWNER)
    return merchant


@transaction.atomic
def member_add(*, merchant: Merchant, user: User, role: str = MemberRole.STAFF) -> MerchantMember:
    if not user.is_shipper:
        raise NotAllowedError(gettext("Merchant members must be shippers."), code="not_shipper")
    if MerchantMember.objects.filter(user=user).exists():
        raise ConflictError(
            gettext("This person already belongs to a merchant."), code="already_member"
        )
    return MerchantMember.objects.create(merchant=merchant, user=user, role=role)


def api_key_display(key: MerchantApiKey, raw: str) -> str:
    return f"{KEY_PREFIX}{key.mode}_{raw}"


@transaction.atomic
def api_key_create(
    *,
    merchant: Merchant,
    name: str,
    scope: str = KeyScope.WRITE,
    mode: str = KeyMode.LIVE,
    created_by: User | None = None,
) -> tuple[MerchantApiKey, str]:
    """A new key and its full text, which is shown once and never stored (only its hash)."""
    if scope not in KeyScope.values:
        raise ConflictError(
            gettext("Unknown scope %(scope)s.") % {"scope": repr(scope)}, code="invalid_scope"
        )
    if mode not in KeyMode.values:
        raise ConflictError(
            gettext("Unknown mode %(mode)s.") % {"mode": repr(mode)}, code="invalid_mode"
        )
    key, raw = MerchantApiKey.objects.create_key(
        name=name, merchant=merchant, scope=scope, mode=mode, created_by=created_by
    )
    assert isinstance(key, MerchantApiKey)
    return key, api_key_display(key, raw)


def api_key_parse(text: str) -> MerchantApiKey | None:
    """The usable key `text` stands for, or None (unknown, malformed, wrong mode, revoked)."""
    for mode in KeyMode.values:
        start = f"{KEY_PREFIX}{mode}_"
        if text.startswith(start):
            raw = text[len(start) :]
            break
    else:
        return None
    prefix, dot, _ = raw.partition(".")
    if not dot or not prefix:
        return None
    key = (
        MerchantApiKey.objects.select_related("merchant")
        .filter(prefix=prefix, revoked=False, mode=mode)
        .first()
    )
    if key is None or key.has_expired or not key.is_valid(raw):
        return None
    return key


def api_key_touch(key: MerchantApiKey) -> None:
    """Record that the key was used (at most once per KEY_TOUCH_INTERVAL)."""
    now = timezone.now()
    if key.last_used_at and now - key.last_used_at < KEY_TOUCH_INTERVAL:
        return
    MerchantApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


@transaction.atomic
def api_key_revoke(*, merchant: Merchant, prefix: str) -> MerchantApiKey:
    key = (
        MerchantApiKey.objects.select_for_update().filter(merchant=merchant, prefix=prefix).first()
    )
    if key is None:
        raise NotFoundError(gettext("No such API key."), code="api_key_not_found")
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


def merchant_key_limits() -> dict[str, str]:
    """The published per-key rate limits (docs/merchants.md)."""
    return {"read": settings.MERCHANT_API_READ_RATE, "write": settings.MERCHANT_API_WRITE_RATE}


@transaction.atomic
def member_remove(*, merchant: Merchant, member_id: int) -> None:
    """Remove a staff member (the owner cannot be removed: the merchant's deliveries are theirs)."""
    member = (
        MerchantMember.objects.select_for_update().filter(merchant=merchant, pk=member_id).first()
    )
    if member is None:
        raise NotFoundError(gettext("No such member."), code="member_not_found")
    if member.is_owner:
        raise ConflictError(gettext("The owner cannot be removed."), code="owner_not_removable")
    member.delete()


def member_add_by_email(*, merchant: Merchant, email: str) -> MerchantMember:
    """Add an existing shipper account as staff (the web page's form)."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise NotFoundError(gettext("No account with this e-mail address."), code="user_not_found")
    return member_add(merchant=merchant, user=user, role=MemberRole.STAFF)


# --- pickup locations ---------------------------------------------------------------------------
LOCATION_FIELDS = frozenset({"name", "point", "address", "contact_name", "contact_phone"})


def _location_check(fields: dict[str, Any]) -> None:
    unknown = set(fields) - LOCATION_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Unknown pickup location fields: %(join)s.")
            % {"join": ", ".join(sorted(unknown))}
        )
    errors = {
        name: [gettext("This field may not be blank.")] for name, v in fields.items() if v == ""
    }
    if errors:
        raise ApplicationError(gettext("The pickup location has invalid fields."), fields=errors)


@transaction.atomic
def pickup_location_create(*, merchant: Merchant, **fields: Any) -> PickupLocation:
    missing = LOCATION_FIELDS - set(fields)
    if missing:
        raise ApplicationError(
            gettext("The pickup location has invalid fields."),
            fields={name: [gettext("This field is required.")] for name in sorted(missing)},
        )
    _location_check(fields)
    return PickupLocation.objects.create(merchant=merchant, **fields)


def pickup_location_get(*, merchant: Merchant, location_id: int) -> PickupLocation:
    """The merchant's own active location; NotFoundError for any other id."""
    location = PickupLocation.objects.filter(
        merchant=merchant, pk=location_id, is_active=True
    ).first()
    if location is None:
        raise NotFoundError(gettext("No such pickup location."), code="pickup_location_not_found")
    return location


@transaction.atomic
def pickup_location_update(
    *, merchant: Merchant, location_id: int, **changes: Any
) -> PickupLocation:
    _location_check(changes)
    location = pickup_location_get(merchant=merchant, location_id=location_id)
    for name, value in changes.items():
        setattr(location, name, value)
    location.save()
    return location


@transaction.atomic
def pickup_location_delete(*, merchant: Merchant, location_id: int) -> None:
    """Deactivated, not deleted: deliveries made from it keep their copy of its address."""
    location = pickup_location_get(merchant=merchant, location_id=location_id)
    location.is_active = False
    location.save(update_fields=["is_active", "updated_at"])


# --- settings and billing -----------------------------------------------------------------------
@transaction.atomic
def merchant_update(
    *,
    merchant: Merchant,
    name: str | None = None,
    contact_email: str | None = None,
    billing_mode: str | None = None,
) -> Merchant:
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if billing_mode is not None:
        if billing_mode not in BillingMode.values:
            raise ApplicationError(
                gettext("Unknown billing mode."),
                fields={
                    "billing_mode": [gettext("One of %(values)s.") % {"values": BillingMode.values}]
                },
            )
        merchant.billing_mode = billing_mode
    if name:
        merchant.name = name
    if contact_email:
        merchant.contact_email = contact_email
    merchant.save()
    return merchant


@transaction.atomic
def merchant_card_store(
    *, merchant: Merchant, customer_id: str, payment_method_id: str
) -> Merchant:
    """Record the Stripe customer and the saved card (lifecycle.ordering.merchant_card_save
    attaches it at Stripe first)."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    merchant.stripe_customer_id = customer_id
    merchant.stripe_payment_method_id = payment_method_id
    merchant.save(update_fields=["stripe_customer_id", "stripe_payment_method_id", "updated_at"])
    return merchant


def api_keys_of(merchant: Merchant) -> list[MerchantApiKey]:
    return list(MerchantApiKey.objects.filter(merchant=merchant).order_by("-created", "-pk"))


# --- the web site's CSV uploads (the rows are created by lifecycle.ordering's task) ------------
@transaction.atomic
def bulk_upload_create(
    *, merchant: Merchant, uploaded_by: User, filename: str, mode: str, rows: list[Any]
) -> BulkUpload:
    limit = settings.MERCHANT_BULK_MAX_ROWS
    if not rows:
        raise ApplicationError(gettext("The file has no rows."), code="empty_upload")
    if len(rows) > limit:
        raise ApplicationError(
            gettext("At most %(limit)s rows per upload; this file has %(len)s.")
            % {"limit": limit, "len": len(rows)},
            code="too_many_rows",
        )
    if mode not in KeyMode.values:
        raise ApplicationError(
            gettext("Unknown mode %(mode)s.") % {"mode": repr(mode)}, code="invalid_mode"
        )
    return BulkUpload.objects.create(
        merchant=merchant,
        uploaded_by=uploaded_by,
        filename=filename[:200],
        mode=mode,
        rows=rows,
        total=len(rows),
    )


@transaction.atomic
def bulk_upload_start(upload_id: int) -> BulkUpload | None:
    """Mark the upload running; None when it is already done."""
    upload = BulkUpload.objects.select_for_update().select_related("merchant").get(pk=upload_id)
    if upload.status == BulkUploadStatus.DONE:
        return None
    upload.status = BulkUploadStatus.RUNNING
    upload.error = ""
    upload.save(update_fields=["status", "error", "updated_at"])
    return upload


@transaction.atomic
def bulk_upload_progress(*, upload_id: int, results: list[dict[str, Any]]) -> BulkUpload:
    upload = BulkUpload.objects.select_for_update().select_related("merchant").get(pk=upload_id)
    upload.results = [*upload.results, *results]
    upload.processed += len(results)
    upload.created += sum(1 for r in results if r["status"] == "created")
    upload.failed += sum(1 for r in results if r["status"] != "created")
    upload.save(update_fields=["results", "processed", "created", "failed", "updated_at"])
    return upload


@transaction.atomic
def bulk_upload_finish(upload_id: int) -> BulkUpload:
    upload = BulkUpload.objects.select_for_update().get(pk=upload_id)
    upload.status = BulkUploadStatus.DONE
    upload.save(update_fields=["status", "updated_at"])
    return upload


def bulk_upload_fail(upload_id: int, message: str) -> None:
    BulkUpload.objects.filter(pk=upload_id).exclude(status=BulkUploadStatus.DONE).update(
        status=BulkUploadStatus.FAILED, error=message[:300]
    )
