"""A seeded, randomised simulation of the escrow: well over 1 000 parcels through the real
services (paying at localstripe, matching, delivery steps, cancellations, refunds, disputes,
tips, couriers onboarding late or never), with every Stripe event posted to the signed webhook
endpoints, some twice and out of order, and Stripe failures injected while transfers are sent.
Afterwards every payment's ledger balances, the whole ledger sums to zero, the escrow is empty
for every finished parcel, couriers are owed exactly what waits to be sent, no transfer was made
twice, and the ledger agrees with the simulated Stripe state (localstripe + FakeConnect).

It is a `transaction=True` test: every service commits for real, so the database trigger that
refuses an unbalanced ledger transaction (checked at commit) runs on every posting, and the
on-commit tasks (eager Celery) run as they would after a real commit. It talks to a localstripe
of its own (scripts/run_localstripe.py, in memory), and FakeConnect.

Run with `-s` for the figures (about 3 minutes on 2 cores). SIM_PARCELS / SIM_DELIVERIES make a
smaller run while working on it; the suite runs the full size.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict

import pytest
from celery.signals import task_failure, task_retry
from stripe._http_client import HTTPClient

from config.celery import app as celery_app
from marketplace.deliveries.models import Delivery
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments import gateway, ledger
from marketplace.payments.models import (
    Dispute,
    LedgerAccount,
    Payment,
    PaymentStatus,
    Tip,
    Transfer,
    TransferStatus,
    WebhookEvent,
)
from marketplace.payments.reconciliation import reconcile
from tests.localstripe import free_port, running_localstripe
from tests.payments.simulation import Simulation

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 20_251_125
PARCELS = int(os.environ.get("SIM_PARCELS", 1_000))
DELIVERIES = int(os.environ.get("SIM_DELIVERIES", 1_000))
P = PaymentStatus
A = LedgerAccount
# Stripe withdraws a disputed amount from the balance until the dispute is won; inquiries
# (warning_*) withdraw nothing.
WITHDRAWN = {"needs_response", "under_review", "lost"}
# The payment statuses whose escrow is empty, and what a finished parcel's payment may be.
EMPTY_ESCROW = {P.RELEASED, P.REVERSED, P.REFUNDED, P.PARTIALLY_REFUNDED, P.DISPUTE_LOST}
AFTER_DELIVERY = {P.RELEASED, P.REVERSED, P.DISPUTED, P.DISPUTE_LOST, P.REFUNDED}
AFTER_CANCEL = {P.REFUNDED, P.PARTIALLY_REFUNDED, P.DISPUTED, P.DISPUTE_LOST}
HELD = {ParcelStatus.OPEN, ParcelStatus.MATCHED, ParcelStatus.PICKED_UP, ParcelStatus.IN_TRANSIT}


@pytest.fixture(scope="module")
def localstripe_server():
    """The simulation's own localstripe, with none of the other tests' objects; it overrides the
    shared server for this module, so payments_on and stripe_connect use it."""
    with running_localstripe(free_port()) as base:
        yield base


def test_randomised_escrow_simulation_balances_and_matches_stripe(
    localstripe_server, payments_on, stripe_connect, client, monkeypatch
):
    started = time.monotonic()
    payments_on.STRIPE_API_BASE = localstripe_server
    # Test-only speed-ups that change no behaviour: stripe-python still retries (same
    # Idempotency-Key) but without sleeping; an eager task that fails is recorded, as a worker
    # would log it, instead of being raised into the step that enqueued it.
    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", 0)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)
    failed_tasks: list[tuple[str, str]] = []
    retried: Counter = Counter()

    def on_failure(sender=None, exception=None, **kwargs):  # type: ignore[no-untyped-def]
        failed_tasks.append((sender.name, repr(exception)))

    def on_retry(sender=None, **kwargs):  # type: ignore[no-untyped-def]
        retried[sender.name] += 1

    task_failure.connect(on_failure, weak=False)
    task_retry.connect(on_retry, weak=False)
    sim = Simulation(seed=SEED, client=client, connect=stripe_connect)
    monkeypatch.setattr(
        gateway, "transfer_create", sim.transfer_create_wrapper(gateway.transfer_create)
    )
    try:
        # Given 30 couriers (half on the way, most onboarding early, some late, some never)
        sim.setup()
        # When over a thousand parcels go their random ways, webhooks and failures included
        sim.run(parcels=PARCELS, min_deliveries=DELIVERIES)
    finally:
        task_failure.disconnect(on_failure)
        task_retry.disconnect(on_retry)
    simulated = time.monotonic() - started

    # Then everything adds up
    problems = list(sim.errors)
    figures = check_everything(sim, stripe_connect, problems)
    unexpected = [f for f in failed_tasks if not _injected_transfer_failure(f)]
    problems += [f"task {name} failed: {exc}" for name, exc in unexpected]
    sim.stats["tasks retried"] = sum(retried.values())
    sim.stats["tasks failed after retries (injected Stripe trouble)"] = len(failed_tasks) - len(
        unexpected
    )
    sim.stats["seconds simulated"] = round(simulated)
    sim.stats["seconds total"] = round(time.monotonic() - started)
    lines = ["", sim.summary(), *(f"  {key:<48} {value:>10}" for key, value in figures.items())]
    lines += [f"PROBLEM {problem}" for problem in problems[:60]]
    print("\n".join(lines))  # noqa: T201 - the figures, shown with -s
    assert not problems, f"{len(problems)} problems, first: {problems[:5]}"


def _injected_transfer_failure(failure: tuple[str, str]) -> bool:
    name, exc = failure
    return name.endswith("send_transfer") and "APIConnectionError" in exc


def check_everything(sim: Simulation, connect, problems: list[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    figures: dict[str, int] = {}
    parcels = Parcel.objects.filter(pk__in=[r.parcel_id for r in sim.records])
    figures["parcels"] = parcels.count()
    figures["deliveries"] = Delivery.objects.count()
    if figures["parcels"] < PARCELS or figures["deliveries"] < DELIVERIES:
        problems.append(f"too small a run: {figures}")

    # Every webhook was stored once and processed.
    events = WebhookEvent.objects.all()
    figures["webhook events stored (unique)"] = events.count()
    for stuck in events.filter(processed_at__isnull=True)[:20]:
        problems.append(f"event {stuck.type} {stuck.event_id} not processed: {stuck.last_error}")

    # The whole ledger, and each payment's part of it, sums to zero.
    if ledger.total() != 0:
        problems.append(f"ledger total {ledger.total()} != 0")
    balances = _balances_by_payment()
    stripe_net = _stripe_net_by_payment(connect, problems)
    totals: Counter = Counter()
    paths = {r.parcel_id: f"{r.path} {r.notes}" for r in sim.records}
    for payment in Payment.objects.select_related("parcel").order_by("pk"):
        mine = balances.get(payment.pk, {})
        label = (
            f"payment {payment.pk} ({payment.status}, parcel {payment.parcel.status}, "
            f"{paths.get(payment.parcel_id)})"
        )
        if sum(mine.values()) != 0:
            problems.append(f"{label} ledger does not balance: {mine}")
        # The escrow: empty once the parcel is settled, the unrefunded amount while held.
        held = payment.amount - payment.amount_refunded
        escrow = -mine.get(A.ESCROW, 0)
        settled = payment.status in EMPTY_ESCROW or payment.status_before_dispute == P.RELEASED
        if payment.status in (P.FAILED, P.CANCELED, P.REQUIRES_PAYMENT) or settled:
            expected = 0
        else:  # succeeded, or disputed before release
            expected = held
        if escrow != expected:
            problems.append(f"{label} escrow holds {escrow}, expected {expected}: {mine}")
        parcel_status = payment.parcel.status
        if payment.status not in (P.FAILED, P.CANCELED):
            if parcel_status == ParcelStatus.DELIVERED and payment.status not in AFTER_DELIVERY:
                problems.append(f"{label}: delivered but the money is still {payment.status}")
            if parcel_status == ParcelStatus.CANCELLED and payment.status not in AFTER_CANCEL:
                problems.append(f"{label}: cancelled but the money is still {payment.status}")
            if parcel_status in HELD and payment.status not in (
                P.SUCCEEDED,
                P.DISPUTED,
                P.DISPUTE_LOST,
            ):
                problems.append(f"{label}: parcel {parcel_status} but payment {payment.status}")
        # The platform's Stripe balance for this payment is what Stripe says it holds for it.
        if mine.get(A.STRIPE_BALANCE, 0) != stripe_net.get(payment.pk, 0):
            problems.append(
                f"{label}: ledger stripe_balance {mine.get(A.STRIPE_BALANCE, 0)} != "
                f"Stripe {stripe_net.get(payment.pk, 0)}"
            )
        for account, amount in mine.items():
            totals[account] += amount
    figures.update({f"ledger {account}": amount for account, amount in sorted(totals.items())})
    figures["stripe balance per Stripe"] = sum(stripe_net.values())
    if totals[A.STRIPE_BALANCE] != sum(stripe_net.values()):
        problems.append(
            f"stripe_balance {totals[A.STRIPE_BALANCE]} != Stripe {sum(stripe_net.values())}"
        )

    # Open disputes: the ledger's disputes account is what Stripe holds back.
    open_disputes = sum(
        d["amount"] for d in connect.disputes.values() if d["status"] in WITHDRAWN - {"lost"}
    )
    figures["disputes open at the end (amount)"] = open_disputes
    if totals[A.DISPUTES] != open_disputes:
        problems.append(f"ledger disputes {totals[A.DISPUTES]} != open disputes {open_disputes}")
    if Dispute.objects.count() != len(connect.disputes):
        problems.append(f"{Dispute.objects.count()} disputes stored, {len(connect.disputes)} made")

    _check_couriers(sim, problems, figures)
    _check_transfers(connect, problems, figures)

    run = reconcile()
    figures["reconciliation payments checked"] = run.payments_checked
    figures["reconciliation differences"] = len(run.differences)
    problems += [f"reconciliation: {diff}" for diff in run.differences]
    return figures


def _balances_by_payment() -> dict[int, dict[str, int]]:
    from django.db.models import Sum

    from marketplace.payments.models import LedgerEntry

    out: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        LedgerEntry.objects.values("transaction__payment_id", "account")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in rows:
        if row["total"]:
            out[row["transaction__payment_id"]][row["account"]] = row["total"]
    return out


def _stripe_net_by_payment(connect, problems: list[str]) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """What Stripe holds for each payment: its charge and its tips' charges (re-read at
    localstripe: captured - refunded), minus the transfers made from them net of reversals
    (FakeConnect), minus what open or lost disputes withdrew."""
    net: Counter = Counter()
    charges: dict[str, int] = {}
    for payment in Payment.objects.exclude(stripe_charge_id="").order_by("pk"):
        charges[payment.stripe_charge_id] = payment.pk
    for tip in Tip.objects.filter(succeeded=True).select_related("delivery"):
        payment = Payment.objects.exclude(status__in=[P.FAILED, P.CANCELED]).get(
            parcel_id=tip.delivery.parcel_id
        )
        charges[tip.stripe_charge_id] = payment.pk
    for charge_id, payment_id in charges.items():
        charge = gateway.charge_retrieve(charge_id)
        if charge["status"] != "succeeded":
            problems.append(f"charge {charge_id} is {charge['status']} at Stripe")
            continue
        captured = int(charge.get("amount_captured", charge["amount"]))
        net[payment_id] += captured - int(charge["amount_refunded"])
    by_stripe_id = {
        t.stripe_transfer_id: t for t in Transfer.objects.exclude(stripe_transfer_id="")
    }
    for transfer_id, data in connect.transfers.items():
        ours = by_stripe_id.get(transfer_id)
        if ours is None:
            delivery_id = int(str(data["transfer_group"]).rsplit("-", 1)[-1])
            rows = list(
                Transfer.objects.filter(delivery_id=delivery_id).values_list(
                    "kind", "status", "amount", "stripe_transfer_id"
                )
            )
            parcel_id = Delivery.objects.get(pk=delivery_id).parcel_id
            problems.append(
                f"Stripe transfer {transfer_id} ({data['amount']}) is not ours; delivery "
                f"{delivery_id} has {rows}; parcel {parcel_id}"
            )
            payment_id = Payment.objects.get(stripe_charge_id=data["source_transaction"]).pk
        else:
            payment_id = ours.payment_id
        net[payment_id] -= int(data["amount"]) - int(data["amount_reversed"])
    for data in connect.disputes.values():
        if data["status"] in WITHDRAWN:
            net[charges[data["charge"]]] -= int(data["amount"])
    return dict(net)


def _check_couriers(sim: Simulation, problems: list[str], figures: dict[str, int]) -> None:
    """Each courier is owed exactly what waits to be sent to them; what waits, waits for a
    reason (no payouts yet, or the money is frozen by a dispute)."""
    waiting = Transfer.objects.filter(status=TransferStatus.WAITING).select_related("payment")
    owed: Counter = Counter()
    for transfer in waiting:
        owed[transfer.courier_id] += transfer.amount
    for courier in sim.couriers:
        payable = -ledger.balances(courier=courier.user).get(A.COURIER_PAYABLE, 0)
        if payable != owed[courier.user.pk]:
            problems.append(
                f"courier {courier.index} ({courier.payouts}): ledger owes {payable}, "
                f"waiting transfers {owed[courier.user.pk]}"
            )
    enabled = {c.user.pk for c in sim.couriers if c.enabled}
    for transfer in waiting:
        if transfer.courier_id in enabled and transfer.payment.status != P.DISPUTED:
            problems.append(f"transfer {transfer.pk} ({transfer.kind}) waits for no reason")
    figures["transfers waiting (courier not payable or frozen)"] = waiting.count()
    figures["amount owed to couriers (waiting)"] = sum(owed.values())


def _check_transfers(connect, problems: list[str], figures: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """No transfer twice: our rows have unique Stripe ids, each Stripe transfer is one of ours
    with the same amount, and an Idempotency-Key never produced two different transfers."""
    sent = Transfer.objects.exclude(stripe_transfer_id="")
    ids = list(sent.values_list("stripe_transfer_id", flat=True))
    if len(ids) != len(set(ids)):
        problems.append("two Transfer rows share a Stripe transfer id")
    if set(ids) != set(connect.transfers):
        problems.append(f"ours {len(set(ids))} vs Stripe {len(connect.transfers)} transfers")
    for transfer in sent:
        data = connect.transfers.get(transfer.stripe_transfer_id)
        if data is None:
            continue
        reversed_ = int(data["amount_reversed"])
        if int(data["amount"]) != transfer.amount or (
            (transfer.status == TransferStatus.REVERSED) != (reversed_ == transfer.amount)
        ):
            problems.append(f"transfer {transfer.pk} {transfer.status} vs Stripe {data}")
    by_key: dict[str, set[str]] = defaultdict(set)
    attempts = 0
    for call in connect.mock.calls:
        request = call.request
        if request.method != "POST" or not request.url.split("?")[0].endswith("/v1/transfers"):
            continue
        attempts += 1
        response = call.response
        if getattr(response, "status_code", None) == 200:
            by_key[request.headers.get("Idempotency-Key", "")].add(json.loads(response.text)["id"])
    for key, made in by_key.items():
        if not key or len(made) > 1:
            problems.append(f"Idempotency-Key {key!r} produced transfers {sorted(made)}")
    figures["transfer POSTs to Stripe (with retries)"] = attempts
    figures["transfers made at Stripe"] = len(connect.transfers)
    figures["transfers reversed at Stripe"] = sum(
        1 for t in connect.transfers.values() if t["amount_reversed"]
    )
    figures["amount transferred net of reversals"] = sum(
        t["amount"] - t["amount_reversed"] for t in connect.transfers.values()
    )
