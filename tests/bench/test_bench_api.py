"""`manage.py bench_api` at a tiny size: a real uvicorn on the test database, the load generator in
its own process, the three endpoints measured without an error; and it never seeds a database
that is not a scratch one."""

import io
import re
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketplace.accounts.models import User
from marketplace.parcels.models import Parcel
from marketplace.tracking.models import LocationPing

pytestmark = pytest.mark.django_db(transaction=True)

ROW = re.compile(
    r"^(bare view|parcel list|batch pings)\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\S+)", re.M
)


def test_bench_api_prints_the_three_endpoints_without_errors():
    # when
    out = io.StringIO()
    call_command(
        "bench_api",
        parcels=12,
        concurrency=2,
        seconds=0.5,
        rounds=2,
        warmup=0.3,
        batch=3,
        stdout=out,
    )

    # then each endpoint has its row, with requests served and no error
    text = out.getvalue()
    rows = {name: (int(requests), errors) for name, requests, _, errors in ROW.findall(text)}
    assert set(rows) == {"bare view", "parcel list", "batch pings"}, text
    assert all(requests > 0 and errors == "0" for requests, errors in rows.values()), text
    assert "DEBUG off" in text
    assert re.search(r"^round  bare req/s .*\n1 .*\n2 ", text, re.M), text
    assert re.search(r"pings stored: [1-9]\d*, refused: 0 ", text), text
    assert "parcel list answers not as seeded" not in text
    assert re.search(r"parcel list / bare view: median \d+\.\d\d .* errors 0; target", text), text
    # the pings went through the real endpoint into the table
    assert LocationPing.objects.count() > 0
    assert Parcel.objects.filter(shipper__email__startswith="shipper0-").count() == 12


def test_bench_api_refuses_a_database_that_is_not_a_scratch_one():
    # given a database whose name does not say "bench"
    users = User.objects.count()

    # when / then
    with (
        mock.patch.dict(connection.settings_dict, {"NAME": "waypost"}),
        pytest.raises(CommandError, match='Refusing to seed "waypost"'),
    ):
        call_command("bench_api", parcels=12, stdout=io.StringIO())

    # nothing was added
    assert User.objects.count() == users
    assert Parcel.objects.count() == 0
