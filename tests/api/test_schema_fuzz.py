"""Property-based fuzzing of the whole REST API from its own OpenAPI schema (schemathesis on
Hypothesis), against a live server on loopback: no generated request, valid or not, may answer a
5xx. Bounded: a fixed number of examples per operation and role, seeded, a few minutes in all.

Roles: a user who is both shipper and verified courier (owning a parcel, a trip and a delivery,
whose ids the generated paths use half of the time), staff, and anonymous.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import requests
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.matching.models import Offer
from marketplace.matching.services import offers_make_for_parcel
from tests.factories.accounts import CourierFactory, ShipperFactory, UserFactory
from tests.factories.matching import line_trip, parcel_near

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 20  # per operation, mode and role
BUDGET_S = 240  # the whole run stops generating after this
ALLOWED_5XX: set[int] = set()  # none: every 5xx is a failure


def _world() -> dict[str, Any]:
    """Objects for the generated paths to find: the both-roles user's parcel, trip, offer and
    delivery; another shipper's parcel (a 404 for ours)."""
    from marketplace.lifecycle.matching import offer_accept

    both = CourierFactory(is_shipper=True)  # a verified courier who also ships
    staff = UserFactory(is_staff=True, is_shipper=True)
    trip = line_trip(courier=both)
    own = parcel_near(shipper=both)
    other_courier = CourierFactory()
    line_trip(courier=other_courier)
    carried = parcel_near(shipper=ShipperFactory())
    offers_make_for_parcel(parcel_id=carried.pk)
    offer = Offer.objects.filter(parcel=carried, courier=both).first()
    delivery = offer_accept(offer_id=offer.pk, courier=both) if offer else None
    ids = [own.pk, carried.pk, trip.pk] + ([delivery.pk, offer.pk] if delivery else [])
    return {
        "tokens": {
            "both": str(AccessToken.for_user(both)),
            "staff": str(AccessToken.for_user(staff)),
            "anonymous": None,
        },
        "ids": ids,
    }


def test_no_generated_request_answers_a_server_error(live_server, stripe_connect):
    stripe_connect.mock.add_passthru(live_server.url)  # our own calls to the live server
    world = _world()
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    session = requests.Session()
    deadline = time.monotonic() + BUDGET_S
    failures: list[str] = []
    calls = 0
    rng = random.Random(16)

    def check(case: schemathesis.Case, role: str) -> None:
        nonlocal calls
        if time.monotonic() > deadline:
            return
        if case.path_parameters and rng.random() < 0.5:
            for name in case.path_parameters:
                if name in ("pk", "id", "delivery_id", "parcel_id"):
                    case.path_parameters[name] = rng.choice(world["ids"])
        token = world["tokens"][role]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=live_server.url, session=session, headers=headers)
        calls += 1
        if response.status_code >= 500 and response.status_code not in ALLOWED_5XX:
            failures.append(
                f"{role} {case.method} {case.formatted_path} query={case.query} "
                f"body={str(case.body)[:200]!r} -> {response.status_code} {response.text[:200]}"
            )

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not a few paths
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            cache.clear()  # throttle counters: keep the run from turning into 429s

            @seed(16)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(
                case=operation.as_strategy(generation_mode=mode),
                role=st.sampled_from(["both", "staff", "anonymous"]),
            )
            def run(case: schemathesis.Case, role: str) -> None:
                check(case, role)

            try:
                run()
            except Unsatisfiable:
                # An operation with no input (GET /parcel-rules/) has no negative case.
                if mode != schemathesis.GenerationMode.NEGATIVE:
                    raise

    assert calls > len(operations) * 10, calls
    assert not failures, "\n".join(failures[:30])
