from __future__ import annotations

from marketplace.payments.models import Payment, PaymentStatus


def payment_of_parcel(*, parcel_id: int) -> Payment | None:
    """The parcel's payment that counts: the paid one, else the latest attempt."""
    payments = Payment.objects.filter(parcel_id=parcel_id).order_by("-created_at")
    live = payments.exclude(
        status__in=[PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.REQUIRES_PAYMENT]
    ).first()
    return live or payments.first()
