"""How payments' tasks retry: Stripe unreachable or refusing for a moment, a database hiccup.
Every task is safe to run again (deterministic idempotency keys, unique ledger sources)."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError

from marketplace.payments.gateway import StripeError

RETRY: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (StripeError, OperationalError, ConnectionError),
    "max_retries": 5,
    "retry_backoff": True,
}
