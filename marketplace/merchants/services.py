"""Merchants, their members and their API keys (writes)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.core.exceptions import ConflictError, NotAllowedError, NotFoundError
from marketplace.merchants.models import (
    KeyMode,
    KeyScope,
    MemberRole,
    Merchant,
    MerchantApiKey,
    MerchantMember,
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
        raise NotAllowedError("You are not a member of a merchant.", code="not_merchant_member")
    if not member.is_owner:
        raise NotAllowedError("Only the merchant's owner may do this.", code="not_merchant_owner")
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
        raise NotAllowedError("Only shippers can run a merchant.", code="not_shipper")
    if MerchantMember.objects.filter(user=owner).exists():
        raise ConflictError("You already belong to a merchant.", code="already_member")
    merchant = Merchant.objects.create(
        name=name, contact_email=contact_email, billing_mode=billing_mode
    )
    MerchantMember.objects.create(merchant=merchant, user=owner, role=MemberRole.OWNER)
    return merchant


@transaction.atomic
def member_add(*, merchant: Merchant, user: User, role: str = MemberRole.STAFF) -> MerchantMember:
    if not user.is_shipper:
        raise NotAllowedError("Merchant members must be shippers.", code="not_shipper")
    if MerchantMember.objects.filter(user=user).exists():
        raise ConflictError("This person already belongs to a merchant.", code="already_member")
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
        raise ConflictError(f"Unknown scope {scope!r}.", code="invalid_scope")
    if mode not in KeyMode.values:
        raise ConflictError(f"Unknown mode {mode!r}.", code="invalid_mode")
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
        raise NotFoundError("No such API key.", code="api_key_not_found")
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key


def merchant_key_limits() -> dict[str, str]:
    """The published per-key rate limits (docs/merchants.md)."""
    return {"read": settings.MERCHANT_API_READ_RATE, "write": settings.MERCHANT_API_WRITE_RATE}
