from __future__ import annotations

from marketplace.accounts.models import User
from marketplace.payments.models import ConnectedAccount, Payment, PaymentStatus, Transfer


def payment_of_parcel(*, parcel_id: int) -> Payment | None:
    """The parcel's payment that counts: the paid one, else the latest attempt."""
    payments = Payment.objects.filter(parcel_id=parcel_id).order_by("-created_at")
    live = payments.exclude(
        status__in=[PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.REQUIRES_PAYMENT]
    ).first()
    return live or payments.first()


def payouts_summary(courier: User, account: ConnectedAccount | None) -> dict[str, object]:
    """What a courier's payouts page shows: onboarding, money waiting and sent, bank payouts."""
    transfers = list(Transfer.objects.filter(courier=courier).order_by("-created_at")[:50])
    return {
        "onboarded": account is not None and account.details_submitted,
        "payouts_enabled": bool(account and account.payouts_enabled),
        "requirements_due": list(account.requirements_due) if account else [],
        "pending_amount": sum(t.amount for t in transfers if t.status == "waiting"),
        "paid_amount": sum(t.amount for t in transfers if t.status == "paid"),
        "transfers": transfers,
        "bank_payouts": list(account.bank_payouts.all()[:20]) if account else [],
    }
