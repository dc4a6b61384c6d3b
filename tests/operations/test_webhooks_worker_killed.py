"""A Celery worker killed with `kill -9` while it is POSTing merchant webhooks (issue 11's note;
docs/webhooks.md, "Delivery and retries"): nothing is lost. The sends it had in flight reached
the receiver but were never answered; their deliveries, leased to it while in flight, stay
pending, and once the lease has passed the sweep sends them again with the same event id.
Every event arrives, a parcel's events first arrive in sequence order, and only the dead
worker's sends come twice.

Two real workers (prefork, two processes each) run in subprocesses on the test database with a
Redis broker; the events are recorded in this process and their sending queued to that broker
after commit. To be sure the killed worker is mid-send when it dies, the loopback receiver holds
the first four requests unanswered: one per pool process, so two are the victim's. The retry
sweep's beat schedule is fixed at 60 s (not read from the environment), so the test sends
`retry_due_deliveries` to the broker itself every SWEEP_SECONDS, as beat would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from celery import Celery
from django.db import transaction
from django.db.models import Count

from marketplace.hooks import services, tasks
from marketplace.hooks.models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from marketplace.hooks.signing import verify
from marketplace.merchants import services as merchants
from marketplace.merchants.models import KeyMode
from tests.factories.matching import parcel_near
from tests.factories.merchants import merchant_with_key
from tests.operations.celery_processes import (
    celery_worker,
    queued,
    redis_broker,
    unacked_task_args,
)
from tests.operations.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

BROKER_URL = "redis://127.0.0.1:6379/10"  # test_worker_killed uses 12
PARCELS = 40
EVENTS_PER_PARCEL = 4  # the parcel's opening, then three more
POOL = 2  # processes per worker
HELD = 2 * POOL  # every pool process of both workers is mid-send
SWEEP_SECONDS = 2.0
# The test settings already allow http and loopback endpoints (config/settings/test.py). The held
# sends wait a few seconds for the kill: they must not time out meanwhile (a timeout would be a
# failed attempt, retried only after 30 s). The dead worker's leases pass 2 x 10 + 5 s after
# its sends began (hooks.sending.lease_length).
WORKER_ENV = {"HOOKS_TIMEOUT_SECONDS": "10"}
DELIVER = "marketplace.hooks.tasks.deliver_webhook"
RETRY_DUE = "marketplace.hooks.tasks.retry_due_deliveries"
log = logging.getLogger(__name__)


class HoldingReceiver:
    """A merchant's endpoint on loopback: records every signed arrival with its
    `Waypost-Event-Id`, holds the first `hold` requests unanswered until `released` is set, and
    answers 200."""

    def __init__(self, hold: int) -> None:
        self.secret = ""
        self.hold = hold
        self.arrivals: list[tuple[str, dict[str, Any]]] = []  # (header id, body), in order
        self.held: list[str] = []
        self.bad_signatures = 0
        self.released = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("Waypost-Signature", "")
                if not verify(secret=receiver.secret, header=header, body=body):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.answer(400)
                    return
                event_id = self.headers["Waypost-Event-Id"]
                with receiver.lock:
                    receiver.arrivals.append((event_id, json.loads(body)))
                    hold = len(receiver.held) < receiver.hold
                    if hold:
                        receiver.held.append(event_id)
                if hold:
                    receiver.released.wait(timeout=60)
                self.answer(200)

            def answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"thanks")
                except OSError:  # its sender died while it was held
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HoldingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def arrived(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.arrivals)


class QueuedOnTheBroker:
    """Stands in for the `deliver_webhook` task in this process, whose settings run tasks
    eagerly: `.delay()` sends the task to the workers' broker instead."""

    def __init__(self, sender: Celery) -> None:
        self.sender = sender

    def delay(self, *args: Any) -> None:
        self.sender.send_task(DELIVER, args=list(args))


def settled_unacked(broker: Any) -> list[Any]:
    """The messages taken and never acknowledged once the queue is empty and they stay as they
    are: the survivor's own leave as its tasks finish; the dead worker's stay."""
    previous: list[Any] | None = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        unacked = unacked_task_args(broker)
        if queued(broker) == 0 and unacked == previous:
            return unacked
        previous = unacked
        time.sleep(1.0)
    raise AssertionError("the survivor did not settle within 20 s")


def record_burst(merchant: Any) -> None:
    """PARCELS merchant parcels, each opened (its event 1) then changed EVENTS_PER_PARCEL - 1
    times, one transaction per change: each delivery is queued as its change commits."""
    owner = merchants.merchant_owner_user(merchant)
    for _ in range(PARCELS):
        parcel = parcel_near(shipper=owner, merchant=merchant)
        for step in range(2, EVENTS_PER_PARCEL + 1):
            with transaction.atomic():
                services.event_record(
                    parcel=parcel, type=EventType.PARCEL_STATUS_CHANGED, data={"step": step}
                )


def test_a_worker_killed_mid_send_loses_no_webhook_and_keeps_the_order(monkeypatch) -> None:
    started = time.monotonic()
    broker = redis_broker(BROKER_URL)
    broker.flushdb()
    sender = Celery(broker=BROKER_URL, set_as_current=False)
    monkeypatch.setattr(tasks, "deliver_webhook", QueuedOnTheBroker(sender))

    with (
        HoldingReceiver(hold=HELD) as receiver,
        celery_worker(
            "victim", broker_url=BROKER_URL, concurrency=POOL, extra_env=WORKER_ENV
        ) as victim,
        celery_worker(
            "survivor", broker_url=BROKER_URL, concurrency=POOL, extra_env=WORKER_ENV
        ) as survivor,
    ):
        merchant, _ = merchant_with_key()
        endpoint = services.endpoint_create(merchant=merchant, mode=KeyMode.LIVE, url=receiver.url)
        receiver.secret = endpoint.secret

        # given a burst of events queued, and every pool process holding a send in flight
        record_burst(merchant)
        wait_until(lambda: len(receiver.held) == HELD, 30, "every pool process mid-send")
        held = list(receiver.held)

        # when one worker is killed with SIGKILL and the receiver answers the others
        victim.kill_whole_worker()
        receiver.released.set()

        # then the survivor and the sweep deliver every event
        pending = WebhookDelivery.objects.filter(endpoint=endpoint).exclude(
            status=DeliveryStatus.SUCCEEDED
        )
        recovered_in = wait_until(
            lambda: not pending.exists() and queued(broker) == 0,
            60,
            "every delivery succeeded",
            pause=SWEEP_SECONDS,
            between=lambda: sender.send_task(RETRY_DUE),
        )
        arrivals = receiver.arrived()

        # and the dead worker's messages, handed out again (as the broker does after its
        # visibility timeout), send nothing: their deliveries have succeeded
        lost = settled_unacked(broker)
        for name, args in lost:
            result = sender.send_task(name, args=args)
            survivor.wait_for(f"[{result.id}] succeeded", timeout=20)
        assert receiver.arrived() == arrivals

    events = {str(e.id): e for e in WebhookEvent.objects.filter(merchant=merchant)}
    counts = Counter(event_id for event_id, _ in arrivals)
    twice = {event_id for event_id, n in counts.items() if n > 1}
    log.warning(
        "%d events; %d sends were in flight in the dead worker and arrived twice; all delivered "
        "%.1f s after the kill, %.1f s in all",
        len(events),
        len(twice),
        recovered_in,
        time.monotonic() - started,
    )
    assert receiver.bad_signatures == 0
    assert len(events) == PARCELS * EVENTS_PER_PARCEL
    # none lost, none unknown, each arrival's header naming its body's event
    assert set(counts) == set(events)
    assert all(event_id == body["id"] for event_id, body in arrivals)
    # exactly the dead worker's in-flight sends came twice, the same event both times
    assert len(twice) == POOL and twice <= set(held), (held, counts)
    for event_id in twice:
        bodies = [body for i, body in arrivals if i == event_id]
        assert all(body == events[event_id].payload for body in bodies)
    # the broker still holds the dead worker's two messages: the sweep delivered their events
    assert sorted(name for name, _ in lost) == [DELIVER] * POOL
    lost_events = WebhookDelivery.objects.filter(pk__in=[args[0] for _, args in lost])
    assert {str(d.event_id) for d in lost_events} == twice
    # a parcel's events first arrived in sequence order
    first_seen: dict[str, dict[str, Any]] = {}
    for event_id, body in arrivals:
        first_seen.setdefault(event_id, body)
    sequences: dict[int, list[int]] = defaultdict(list)
    for body in first_seen.values():
        sequences[body["data"]["parcel"]["id"]].append(body["sequence"])
    assert len(sequences) == PARCELS
    assert all(s == list(range(1, EVENTS_PER_PARCEL + 1)) for s in sequences.values()), sequences
    # one delivery per event and endpoint, each succeeded with one attempt logged (the send
    # that died with its worker was rolled back with its transaction)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert deliveries.count() == len(events)
    assert not deliveries.values("event_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(deliveries.values_list("status", "attempts")) == {(DeliveryStatus.SUCCEEDED, 1)}
    assert WebhookAttempt.objects.filter(delivery__endpoint=endpoint).count() == len(events)
    broker.flushdb()
