"""Machinery for the escrow simulation (test_simulation.py): a seeded crowd of shippers and
couriers driven through the real services, with Stripe events posted to the signed webhook
endpoints duplicated and out of order, and Stripe failures injected on the way.

Every parcel follows a path drawn at random (`PATHS`) as a generator of steps; up to `ACTIVE`
parcels are on the way at once and the driver advances one of them at a time, so their steps,
their webhooks and the couriers' onboarding interleave. Nothing writes payment rows directly.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
import stripe
from django.test import Client

from marketplace.accounts.models import User
from marketplace.deliveries.models import Delivery
from marketplace.lifecycle import cancelling, delivering
from marketplace.lifecycle.cancelling import parcel_cancel
from marketplace.lifecycle.delivering import trip_start
from marketplace.lifecycle.matching import offer_accept
from marketplace.lifecycle.paying import payment_start
from marketplace.matching.models import Offer, OfferStatus
from marketplace.parcels.models import Parcel
from marketplace.payments import gateway
from marketplace.payments.disputes import dispute_resolve
from marketplace.payments.models import (
    ConnectedAccount,
    Dispute,
    Payment,
    PaymentStatus,
    Tip,
    Transfer,
)
from marketplace.payments.payouts import connect_onboarding_link
from marketplace.payments.refunds import escrow_refund_after_release
from marketplace.payments.tasks import send_due_transfers
from marketplace.payments.tips import tip_start
from marketplace.trips.models import Trip
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.factories.matching import base_time, line_trip, parcel_near
from tests.payments.stripe_fakes import FakeConnect, event, post_event

P = PaymentStatus
VISA = "pm_card_visa"
# localstripe declines a *charge* only for this card; its `pm_card_visa_chargeDeclined` is
# refused when attached to a customer but charges fine.
DECLINED = "pm_card_chargeCustomerFail"
# Trips run east along parallel lines this far apart, wider than any courier's corridor (1 km),
# so a parcel placed by one courier's line is offered to that courier alone.
SPACING_M = 5_000
ACTIVE = 16  # parcels on the way at once

# path -> weight.
PATHS: dict[str, int] = {
    "abandoned": 4,  # card declined or never confirmed, parcel cancelled before paying
    "cancel_open": 7,  # paid, cancelled before a courier took it: full refund
    "cancel_planned": 6,  # cancelled after assignment, trip not started: full refund
    "cancel_active": 7,  # cancelled after assignment, courier on the way: fee to the courier
    "courier_withdraws": 3,  # the courier gives it up; the shipper then cancels: full refund
    "delivered": 30,  # release; transfer once the courier can be paid; tips
    "refund_after_release": 7,  # delivered, then given back: transfer reversed (or cancelled)
    "external_refund": 3,  # refunded in Stripe's dashboard (charge.refunded), then cancelled
    "dispute_after_release": 8,  # delivered, then disputed: won or lost
    "dispute_before_release": 7,  # disputed while held, delivered while frozen, won or lost
    "dispute_admin": 6,  # disputed, an admin resolves (release/refund/close), Stripe closes it
    "dispute_fee": 2,  # cancelled with the fee, the fee is disputed: won or lost
    "in_flight": 4,  # paid and with a courier (maybe picked up) when the run ends
    "left_open": 2,  # paid, no courier yet when the run ends
}


@dataclass
class Courier:
    index: int
    user: User
    trip: Trip
    active: bool  # trip started: cancelling now costs the shipper the fee
    payouts: str  # "early", "late", "never" (onboarded, never enabled), "none" (no account)
    account_id: str = ""
    enabled: bool = False

    @property
    def north_m(self) -> int:
        return self.index * SPACING_M


@dataclass
class Record:
    """What happened to one parcel, for the summary and the checks."""

    n: int
    path: str
    parcel_id: int = 0
    notes: list[str] = field(default_factory=list)


class EventBus:
    """Stripe's webhook deliveries: each event is queued, sometimes twice (same id), and a
    window of queued events is posted in shuffled order; a few are delivered again at the end
    (Stripe's retries days later)."""

    def __init__(self, client: Client, rng: random.Random, stats: Counter) -> None:
        self.client, self.rng, self.stats = client, rng, stats
        self.queue: list[tuple[dict[str, Any], bool]] = []
        self.late: list[tuple[dict[str, Any], bool]] = []
        self.window = self.rng.randint(1, 10)

    def emit(self, kind: str, obj: dict[str, Any], *, account: str | None = None) -> None:
        item = (event(kind, obj, account=account), account is not None)
        self.stats["events"] += 1
        self.stats[f"event {kind}"] += 1
        self.queue.append(item)
        roll = self.rng.random()
        if roll < 0.15:
            self.queue.append(item)
            self.stats["events duplicated"] += 1
        elif roll < 0.20:
            self.late.append(item)
            self.stats["events redelivered at the end"] += 1
        if len(self.queue) >= self.window:
            self.flush()

    def flush(self) -> None:
        batch, self.queue = self.queue, []
        self.window = self.rng.randint(1, 10)
        order = list(range(len(batch)))
        self.rng.shuffle(order)
        self.stats["events posted out of order"] += sum(
            1 for i, j in enumerate(order) if j < max(order[:i], default=-1)
        )
        for i in order:
            self._post(*batch[i])

    def flush_all(self) -> None:
        self.flush()
        late, self.late = self.late, []
        self.rng.shuffle(late)
        for item in late:
            self._post(*item)

    def _post(self, payload: dict[str, Any], connect: bool) -> None:
        response = post_event(self.client, payload, connect=connect)
        assert response.status_code == 200, response.content
        self.stats["webhook posts"] += 1
        if response.json().get("duplicate"):
            self.stats["webhook posts acknowledged as duplicates"] += 1


class Simulation:
    def __init__(
        self,
        *,
        seed: int,
        client: Client,
        connect: FakeConnect,
        couriers: int = 30,
        shippers: int = 60,
    ) -> None:
        self.rng = random.Random(seed)
        self.client, self.connect = client, connect
        self.stats: Counter = Counter()
        self.bus = EventBus(client, self.rng, self.stats)
        self.records: list[Record] = []
        self.errors: list[str] = []
        self.t0 = base_time()
        self.n_couriers, self.n_shippers = couriers, shippers
        self.couriers: list[Courier] = []
        self.shippers: list[User] = []
        self.admin: User | None = None
        self.lose_transfer_responses = False
        self._seen_transfers = 0
        self._seen_reversals: set[str] = set()
        self._seen_calls = 0

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        plans = ["early", "late", "never", "none"]
        weights = [40, 35, 15, 10]
        for i in range(self.n_couriers):
            user = CourierFactory()
            trip = line_trip(courier=user, north_m=i * SPACING_M, t0=self.t0, max_parcels=50)
            active = i % 2 == 1
            if active:
                trip = trip_start(trip=trip, actor=user)
            courier = Courier(i, user, trip, active, self.rng.choices(plans, weights=weights)[0])
            if courier.payouts != "none":
                connect_onboarding_link(courier=user)
                courier.account_id = ConnectedAccount.objects.get(courier=user).stripe_account_id
            self.couriers.append(courier)
            self.stats[f"couriers payouts {courier.payouts}"] += 1
        for courier in self.couriers:
            if courier.payouts == "early":
                self.enable_payouts(courier)
        self.shippers = [ShipperFactory() for _ in range(self.n_shippers)]
        self.admin = UserFactory(is_staff=True, is_superuser=True, email="admin@example.com")

    def enable_payouts(self, courier: Courier) -> None:
        data = self.connect.enable_payouts(courier.account_id)
        courier.enabled = True
        self.stats["couriers enabled payouts"] += 1
        self.bus.emit("account.updated", data, account=courier.account_id)

    # -- the run --------------------------------------------------------------------------------
    def run(self, *, parcels: int, min_deliveries: int = 0) -> None:
        started = time.monotonic()
        running: list[tuple[Record, Iterator[None]]] = []
        n = 0
        while True:
            enough = n >= parcels and self.stats["deliveries"] >= min_deliveries
            while len(running) < ACTIVE and not enough:
                path = self.rng.choices(list(PATHS), weights=list(PATHS.values()))[0]
                record = Record(n, path)
                n += 1
                self.records.append(record)
                self.stats[f"path {path}"] += 1
                running.append((record, self._guarded(record)))
                enough = n >= parcels and self.stats["deliveries"] >= min_deliveries
            if not running:
                break
            i = self.rng.randrange(len(running))
            record, steps = running[i]
            try:
                next(steps)
            except StopIteration:
                running.pop(i)
            self._background()
            self._emit_connect_events()
        self.finish()
        self.stats["seconds run"] = round(time.monotonic() - started)

    def _guarded(self, record: Record) -> Iterator[None]:
        try:
            yield from self._path(record)
        except Exception as exc:  # every failure is reported at the end
            detail = getattr(exc, "fields", None) or ""
            self.errors.append(
                f"parcel #{record.n} ({record.path}) {record.notes}: {exc!r} {detail}"
            )

    def _background(self) -> None:
        """What happens meanwhile: late onboarding, the periodic transfer sweep."""
        roll = self.rng.random()
        if roll < 0.004:
            waiting = [c for c in self.couriers if c.payouts == "late" and not c.enabled]
            if waiting:
                self.enable_payouts(self.rng.choice(waiting))
        elif roll < 0.0055:  # the beat schedule's sweep, every few minutes of a real day
            self.stats["transfer sweeps"] += 1
            self.stats["transfers sent by sweeps"] += send_due_transfers()

    def _emit_connect_events(self) -> None:
        """transfer.created / transfer.reversed for what reached (fake) Stripe since last time."""
        transfers = self.connect.transfers
        if len(transfers) > self._seen_transfers:
            for data in list(transfers.values())[self._seen_transfers :]:
                self.bus.emit("transfer.created", data)
            self._seen_transfers = len(transfers)
        calls = self.connect.calls
        reversing = any(
            method == "POST" and url.endswith("/reversals")
            for method, url in calls[self._seen_calls :]
        )
        self._seen_calls = len(calls)
        if reversing:
            for transfer in transfers.values():
                for reversal in transfer["reversals"]["data"]:
                    if reversal["id"] not in self._seen_reversals:
                        self._seen_reversals.add(reversal["id"])
                        self.bus.emit("transfer.reversed", transfer)

    def finish(self) -> None:
        """The end of the day: every webhook delivered, late ones too, and the transfer sweep
        run until nothing more can be sent."""
        self._emit_connect_events()
        self.bus.flush_all()
        for _ in range(3):
            self.stats["transfer sweeps"] += 1
            self.stats["transfers sent by sweeps"] += send_due_transfers()
            self._emit_connect_events()
            self.bus.flush_all()

    # -- building blocks ------------------------------------------------------------------------
    def _courier(self, *, active: bool | None = None) -> Courier:
        pool = [c for c in self.couriers if active is None or c.active == active]
        return self.rng.choice(pool)

    def _parcel(self, courier: Courier) -> Parcel:
        north = courier.north_m
        rng = self.rng
        return parcel_near(
            shipper=rng.choice(self.shippers),
            pickup=(rng.randint(200, 4_000), north + rng.randint(-400, 400)),
            dropoff=(rng.randint(5_000, 9_800), north + rng.randint(-400, 400)),
            t0=self.t0,
            weight_grams=500,
            size_class=rng.choice(["S", "M"]),
        )

    def _intent(self, payment: Payment | Tip, status: str) -> dict[str, Any]:
        return {
            "id": payment.stripe_payment_intent_id,
            "object": "payment_intent",
            "amount": payment.amount,
            "currency": payment.currency.lower(),
            "status": status,
            "latest_charge": payment.stripe_charge_id or None,
        }

    def _charge(self, charge_id: str) -> dict[str, Any]:
        return gateway.charge_retrieve(charge_id)

    def _pay(self, record: Record, parcel: Parcel, *, declines: int = 0) -> Iterator[None]:
        shipper = parcel.shipper
        for _ in range(declines):
            failed = payment_start(parcel=parcel, shipper=shipper, payment_method=DECLINED)
            assert failed.status == P.FAILED, failed.status
            self.stats["card declined"] += 1
            self.bus.emit(
                "payment_intent.payment_failed", self._intent(failed, "requires_payment_method")
            )
            yield
        payment = payment_start(parcel=parcel, shipper=shipper, payment_method=VISA)
        assert payment.status == P.SUCCEEDED, payment.status
        self.stats["payments captured"] += 1
        self.stats["amount captured"] += payment.amount
        self.bus.emit("payment_intent.succeeded", self._intent(payment, "succeeded"))
        yield

    def _paid(self, parcel: Parcel) -> Payment:
        return Payment.objects.exclude(status__in=[P.FAILED, P.CANCELED]).get(parcel=parcel)

    def _assign(self, parcel: Parcel, courier: Courier) -> Delivery:
        # The offer was made by the matching task when the payment opened the parcel (only
        # this courier's line passes by it); the courier accepts it.
        offer = Offer.objects.get(parcel=parcel, courier=courier.user, status=OfferStatus.PENDING)
        delivery = offer_accept(offer_id=offer.pk, courier=courier.user)
        self.stats["deliveries"] += 1
        return delivery

    def _deliver(self, delivery: Delivery, courier: Courier, *, failures: bool) -> Iterator[None]:
        user = courier.user
        delivering.delivery_confirm_pickup(delivery=delivery, actor=user, code=delivery.pickup_code)
        yield
        delivering.delivery_start_transit(delivery=delivery, actor=user)
        yield
        if failures and courier.enabled:
            with self._transfer_trouble(delivery):
                delivering.delivery_confirm_delivered(
                    delivery=delivery, actor=user, code=delivery.delivery_code
                )
        else:
            delivering.delivery_confirm_delivered(
                delivery=delivery, actor=user, code=delivery.delivery_code
            )
        self.stats["delivered"] += 1
        yield

    @contextmanager
    def _transfer_trouble(self, delivery: Delivery) -> Iterator[None]:
        """Stripe trouble while the courier's transfer is sent (stripe-python retries 2 times,
        the Celery task 5 times, then the periodic sweep): connections refused before Stripe
        saw them, or every response lost after Stripe made the transfer."""
        lost = self.rng.random() < 0.4
        count = 0
        if lost:
            self.lose_transfer_responses = True
            self.stats["transfer trouble: responses lost (deliveries)"] += 1
        else:
            count = self.rng.choice([1, 2, 3, 5, 20])
            for _ in range(count):
                self.connect.fail_next("/v1/transfers", requests.ConnectionError("injected"))
            self.stats["transfer trouble: connections refused (injected)"] += count
        try:
            yield
        finally:
            self.lose_transfer_responses = False
            failures = self.connect.failures
            left = sum(1 for fragment, _ in failures if fragment == "/v1/transfers")
            failures[:] = [f for f in failures if f[0] != "/v1/transfers"]
            self.stats["transfer trouble: connections refused (hit)"] += count - left
            if Transfer.objects.filter(delivery=delivery, status="waiting").exists():
                self.stats["transfer trouble: left waiting for the sweep"] += 1

    def transfer_create_wrapper(self, real: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
        """gateway.transfer_create, losing the response after Stripe made the transfer while
        `lose_transfer_responses` is set."""

        def transfer_create(**kwargs: Any) -> dict[str, Any]:
            result = real(**kwargs)
            if self.lose_transfer_responses:
                self.stats["transfer trouble: responses lost (calls)"] += 1
                raise stripe.APIConnectionError("injected: response lost after the transfer")
            return result

        return transfer_create

    def _tips(self, record: Record, delivery: Delivery) -> Iterator[None]:
        if self.rng.random() >= 0.3:
            return
        for _ in range(self.rng.choice([1, 1, 1, 2])):
            declined = self.rng.random() < 0.1
            amount = self.rng.choice([100, 150, 200, 250, 500, 1000])
            tip = tip_start(
                delivery=delivery,
                shipper=delivery.parcel.shipper,
                amount=amount,
                payment_method=DECLINED if declined else VISA,
            )
            assert tip.succeeded is not declined
            if declined:
                self.stats["tips declined"] += 1
                self.bus.emit(
                    "payment_intent.payment_failed", self._intent(tip, "requires_payment_method")
                )
            else:
                self.stats["tips"] += 1
                self.stats["amount tipped"] += amount
                self.bus.emit("payment_intent.succeeded", self._intent(tip, "succeeded"))
            record.notes.append(f"tip {amount}{' declined' if declined else ''}")
            yield

    def _cancel(self, parcel: Parcel) -> None:
        parcel_cancel(parcel=parcel, actor=parcel.shipper, reason="simulated")
        self.stats["cancelled"] += 1
        for payment in Payment.objects.filter(parcel=parcel).order_by("pk"):
            if payment.status == P.CANCELED:
                self.bus.emit("payment_intent.canceled", self._intent(payment, "canceled"))
            elif payment.amount_refunded:
                self.bus.emit("charge.refunded", self._charge(payment.stripe_charge_id))

    def _dispute_open(self, record: Record, payment: Payment, amount: int | None = None) -> str:
        data = self.connect.open_dispute(
            charge_id=payment.stripe_charge_id, amount=amount or payment.amount
        )
        self.stats["disputes opened"] += 1
        self.bus.emit("charge.dispute.created", data)
        self.bus.flush()  # delivered within seconds, before the parcel's next step
        record.notes.append(f"dispute {data['id']} opened")
        return str(data["id"])

    def _dispute_close(self, record: Record, dispute_id: str, outcome: str | None = None) -> None:
        outcome = outcome or self.rng.choice(["won", "lost"])
        data = self.connect.close_dispute(dispute_id, outcome)
        self.stats[f"disputes {outcome}"] += 1
        if outcome == "won":
            self.bus.emit("charge.dispute.funds_reinstated", data)
        self.bus.emit("charge.dispute.closed", data)
        record.notes.append(f"dispute {outcome}")

    # -- the paths ------------------------------------------------------------------------------
    def _path(self, record: Record) -> Iterator[None]:
        rng = self.rng
        path = record.path
        wants_active = {"cancel_active": True, "dispute_fee": True, "cancel_planned": False}
        courier = self._courier(active=wants_active.get(path))
        parcel = self._parcel(courier)
        record.parcel_id = parcel.pk
        declines = rng.choice([1, 1, 2]) if rng.random() < 0.15 else 0
        if declines:
            record.notes.append(f"{declines} declined")
        yield

        if path == "abandoned":
            if rng.random() < 0.5:
                failed = payment_start(
                    parcel=parcel, shipper=parcel.shipper, payment_method=DECLINED
                )
                self.stats["card declined"] += 1
                self.bus.emit(
                    "payment_intent.payment_failed", self._intent(failed, "requires_payment_method")
                )
            else:
                payment_start(parcel=parcel, shipper=parcel.shipper)  # the card never came
            yield
            self._cancel(parcel)
            return

        yield from self._pay(record, parcel, declines=declines)
        payment = self._paid(parcel)

        if path == "left_open":
            return
        if path == "cancel_open":
            self._cancel(parcel)
            return
        if path == "external_refund":
            charge = payment.stripe_charge_id
            # Made at Stripe (the dashboard), not by Waypost: only the webhook tells us.
            gateway.refund_create(
                charge_id=charge, amount=payment.amount, key=f"dashboard-{charge}"
            )
            self.stats["refunded in the dashboard"] += 1
            self.bus.emit("charge.refunded", self._charge(charge))
            self.bus.flush()
            yield
            self._cancel(parcel)
            return

        frozen_early = path == "dispute_before_release" or (
            path == "dispute_admin" and rng.random() < 0.5
        )
        dispute_id = ""
        if frozen_early and rng.random() < 0.5:
            dispute_id = self._dispute_open(record, payment)  # before a courier took it
            yield
        delivery = self._assign(parcel, courier)
        yield
        if frozen_early and not dispute_id:
            dispute_id = self._dispute_open(record, payment)
            yield

        if path in ("cancel_planned", "cancel_active", "dispute_fee"):
            self._cancel(parcel)
            yield
            if path == "dispute_fee":
                payment.refresh_from_db()
                dispute_id = self._dispute_open(
                    record, payment, payment.amount - payment.amount_refunded
                )
                yield
                self._dispute_close(record, dispute_id)
            return
        if path == "courier_withdraws":
            cancelling.delivery_cancel_by_courier(delivery=delivery, actor=courier.user)
            self.stats["courier withdrew"] += 1
            yield
            self._cancel(parcel)
            return
        if path == "in_flight":
            if rng.random() < 0.5:
                delivering.delivery_confirm_pickup(
                    delivery=delivery, actor=courier.user, code=delivery.pickup_code
                )
            return

        failures = rng.random() < 0.12
        yield from self._deliver(delivery, courier, failures=failures)
        delivery.refresh_from_db()

        if path == "dispute_admin":
            if not dispute_id:
                dispute_id = self._dispute_open(record, payment)
                yield
            dispute = Dispute.objects.get(stripe_dispute_id=dispute_id)
            action = rng.choice(["release", "refund", "close"])
            dispute_resolve(dispute=dispute, admin=self.admin, action=action, note="simulated")
            self.stats[f"disputes resolved by admin: {action}"] += 1
            record.notes.append(f"admin {action}")
            yield
            if action == "refund":
                self.bus.emit("charge.refunded", self._charge(payment.stripe_charge_id))
                # The shipper got the money back and withdraws the dispute: Stripe marks it won.
                self._dispute_close(record, dispute_id, "won")
            else:
                self._dispute_close(record, dispute_id)
            yield
            return
        if path == "dispute_before_release":
            self._dispute_close(record, dispute_id)
            yield
            return

        yield from self._tips(record, delivery)

        if path == "refund_after_release":
            payment.refresh_from_db()
            escrow_refund_after_release(payment_id=payment.pk, reason="simulated: damaged")
            self.stats["refunded after release"] += 1
            self.bus.emit("charge.refunded", self._charge(payment.stripe_charge_id))
            yield
        elif path == "dispute_after_release":
            dispute_id = self._dispute_open(record, payment)
            yield
            if rng.random() < 0.1:
                record.notes.append("dispute still open at the end")
                self.stats["disputes left open"] += 1
                return
            self._dispute_close(record, dispute_id)
            yield

    # -- the summary ----------------------------------------------------------------------------
    def parcels_by_status(self) -> Counter:
        return Counter(
            Parcel.objects.filter(pk__in=[r.parcel_id for r in self.records]).values_list(
                "status", flat=True
            )
        )

    def summary(self) -> str:
        lines = ["escrow simulation"]
        for key in sorted(self.stats):
            lines.append(f"  {key:<48} {self.stats[key]:>10}")
        for status, count in sorted(self.parcels_by_status().items()):
            lines.append(f"  {'parcels ' + status:<48} {count:>10}")
        for status, count in sorted(
            Counter(Payment.objects.values_list("status", flat=True)).items()
        ):
            lines.append(f"  {'payments ' + status:<48} {count:>10}")
        return "\n".join(lines)


__all__ = ["PATHS", "Simulation"]
