"""Couriers' connected accounts (Stripe Express): onboarding links, the account's state
(`account.updated`: transfers waiting for payouts go out), and their payouts to the bank
(`payout.*`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from marketplace.accounts.models import User
from marketplace.core.exceptions import NotAllowedError
from marketplace.core.languages import in_language_of
from marketplace.core.money import format_money
from marketplace.core.transactions import enqueue_on_commit
from marketplace.notifications.services import notify
from marketplace.payments import gateway
from marketplace.payments.intents import PaymentProviderError
from marketplace.payments.models import (
    BANK_PAYOUT_RANK,
    BankPayout,
    BankPayoutStatus,
    ConnectedAccount,
    Transfer,
    TransferStatus,
)
from marketplace.payments.transfers import send_transfer

log = logging.getLogger(__name__)


def connect_onboarding_link(*, courier: User) -> str:
    """The courier's Express account (created once) and a fresh Stripe-hosted onboarding link."""
    if not courier.is_courier:
        raise NotAllowedError(gettext("Only couriers get paid out."), code="not_a_courier")
    account = ConnectedAccount.objects.filter(courier=courier).first()
    base = settings.SITE_URL.rstrip("/")
    try:
        if account is None:
            data = gateway.account_create(
                email=courier.email, country=None, key=f"courier-{courier.pk}-account"
            )
            account, _ = ConnectedAccount.objects.get_or_create(
                courier=courier, defaults={"stripe_account_id": data["id"]}
            )
        link = gateway.account_link_create(
            account_id=account.stripe_account_id,
            refresh_url=f"{base}/payouts/onboarding/",
            return_url=f"{base}/payouts/",
        )
    except gateway.StripeError as exc:
        log.warning("onboarding link for courier %s: %s", courier.pk, exc)
        raise PaymentProviderError(
            gettext("We could not reach Stripe to set up your payouts. Try again in a minute."),
            code="payment_provider_unavailable",
        ) from exc
    return str(link["url"])


def account_sync(*, account_id: str) -> ConnectedAccount | None:
    """`account.updated`: keep payouts_enabled and the outstanding requirements current, and
    send what was waiting for them."""
    account = ConnectedAccount.objects.filter(stripe_account_id=account_id).first()
    if account is None:
        return None
    data = gateway.account_retrieve(account_id)
    requirements = (data.get("requirements") or {}).get("currently_due") or []
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().get(pk=account.pk)
        was_enabled = account.payouts_enabled
        account.payouts_enabled = bool(data.get("payouts_enabled"))
        account.charges_enabled = bool(data.get("charges_enabled"))
        account.details_submitted = bool(data.get("details_submitted"))
        account.requirements_due = list(requirements)
        account.save()
        if account.payouts_enabled and not was_enabled:
            for pk in Transfer.objects.filter(
                courier_id=account.courier_id, status=TransferStatus.WAITING
            ).values_list("pk", flat=True):
                enqueue_on_commit(send_transfer, pk)
    return account


def bank_payout_sync(*, payout_id: str, account_id: str | None) -> BankPayout | None:
    """`payout.*` (Connect): a courier's payout to their bank, re-read from their account. Its
    status only moves forward, so duplicated and reordered events change nothing; the courier
    is told when the money reached the bank, or why it did not. Payouts of accounts we do not
    know (and the platform's own, which come without an account) are ignored."""
    account = ConnectedAccount.objects.filter(stripe_account_id=account_id or "").first()
    if account is None or not payout_id:
        return None
    data = gateway.payout_retrieve(payout_id, account=account.stripe_account_id)
    status = str(data.get("status") or "")
    if status not in BankPayoutStatus.values:
        log.warning("payout %s has an unknown status %r; ignored", payout_id, status)
        return None
    arrival = data.get("arrival_date")
    fields = {
        "amount": int(data["amount"]),
        "currency": str(data["currency"]).upper(),
        "status": status,
        "arrival_date": datetime.fromtimestamp(arrival, tz=UTC) if arrival else None,
        "failure_code": str(data.get("failure_code") or ""),
        "failure_message": str(data.get("failure_message") or "")[:500],
    }
    with transaction.atomic():
        payout, created = BankPayout.objects.select_for_update().get_or_create(
            stripe_payout_id=payout_id, defaults={"account": account, **fields}
        )
        if not created:
            if (
                BANK_PAYOUT_RANK[BankPayoutStatus(status)]
                <= BANK_PAYOUT_RANK[BankPayoutStatus(payout.status)]
            ):
                return payout
            for name, value in fields.items():
                setattr(payout, name, value)
            payout.save()
        _bank_payout_notify(payout, courier=account.courier)
    return payout


def _bank_payout_notify(payout: BankPayout, *, courier: User) -> None:
    with in_language_of(courier):
        _bank_payout_notify_in_language(payout, courier=courier)


def _bank_payout_notify_in_language(payout: BankPayout, *, courier: User) -> None:
    amount = format_money(payout.amount, payout.currency)
    data = {"payout": payout.stripe_payout_id, "status": payout.status}
    if payout.status == BankPayoutStatus.PAID:
        notify(
            user=courier,
            kind="payout_paid",
            title=gettext("%(amount)s paid into your bank account") % {"amount": amount},
            data=data,
        )
    elif payout.status == BankPayoutStatus.FAILED:
        reason = payout.failure_message or gettext("Your bank did not accept it.")
        notify(
            user=courier,
            kind="payout_failed",
            title=gettext("Your payout of %(amount)s failed") % {"amount": amount},
            body=gettext(
                "%(reason)s Check your bank details on the Payouts page; Stripe tries again once "
                "they are fixed."
            )
            % {"reason": reason},
            data=data,
        )
