"""Seed a demo city: an admin, shippers, verified couriers, commuter trips and open parcels.

Idempotent: users are found by email, trips and parcels by their demo labels, so running it again
adds nothing twice. Everything goes through the services, so quotes and audit rows are real.

With settings.PAYMENTS_REQUIRED (the default outside tests) a new parcel is a draft until it is
paid: the demo parcels are paid with Stripe's test card `pm_card_visa` at settings.STRIPE_API_BASE
(localstripe on loopback, which `make run` starts), after the seeding transaction, and only those
still waiting for their payment, so a second run pays nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import LineString, Point
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from marketplace.accounts.models import User, VerificationStatus
from marketplace.accounts.services import courier_profile_upsert, courier_set_verification
from marketplace.core.exceptions import ApplicationError
from marketplace.lifecycle.paying import payment_start
from marketplace.lifecycle.posting import parcel_create, trip_create
from marketplace.parcels.models import Parcel, ParcelStatus
from marketplace.payments.gateway import StripeError
from marketplace.payments.models import PaymentStatus
from marketplace.trips.models import Trip

PASSWORD = "waypost-demo"
# Stripe's test card for the pay page (localstripe accepts the same numbers as Stripe's test mode).
TEST_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
ADMIN = ("admin@waypost.local", "Ada Admin")
SHIPPERS = [
    ("shipper@waypost.local", "Sam Shipper"),
    ("bakery@waypost.local", "Kiez Bakery"),
    ("records@waypost.local", "Vinyl Records Neukölln"),
]
COURIERS = [
    ("courier@waypost.local", "Clara Courier", "bike"),
    ("pendler@waypost.local", "Paul Pendler", "car"),
    ("walker@waypost.local", "Wanda Walker", "foot"),
    ("cargo@waypost.local", "Carlo Cargo", "cargo_bike"),
    ("van@waypost.local", "Vera Van", "van"),
]
# Berlin places (lon, lat).
P = {
    "Spandau": (13.2004, 52.5348),
    "Charlottenburg": (13.3043, 52.5163),
    "Zoo": (13.3327, 52.5069),
    "Potsdamer Platz": (13.3759, 52.5096),
    "Mitte": (13.4050, 52.5200),
    "Alexanderplatz": (13.4132, 52.5219),
    "Friedrichshain": (13.4541, 52.5125),
    "Lichtenberg": (13.4990, 52.5130),
    "Prenzlauer Berg": (13.4240, 52.5390),
    "Pankow": (13.4010, 52.5690),
    "Wedding": (13.3590, 52.5500),
    "Kreuzberg": (13.4030, 52.4986),
    "Neukölln": (13.4350, 52.4810),
    "Tempelhof": (13.3850, 52.4700),
    "Steglitz": (13.3260, 52.4560),
    "Schöneberg": (13.3500, 52.4830),
}
# Commuter routes through their waypoints: (courier email, label, waypoints, departure hour).
TRIPS = [
    ("courier@waypost.local", "Kreuzberg to Wedding", ["Kreuzberg", "Mitte", "Wedding"], 8),
    (
        "pendler@waypost.local",
        "Spandau to Alexanderplatz",
        ["Spandau", "Charlottenburg", "Zoo", "Potsdamer Platz", "Alexanderplatz"],
        7,
    ),
    (
        "pendler@waypost.local",
        "Alexanderplatz to Spandau",
        ["Alexanderplatz", "Potsdamer Platz", "Zoo", "Charlottenburg", "Spandau"],
        17,
    ),
    (
        "walker@waypost.local",
        "Prenzlauer Berg to Alexanderplatz",
        ["Prenzlauer Berg", "Alexanderplatz"],
        9,
    ),
    (
        "cargo@waypost.local",
        "Neukölln to Friedrichshain",
        ["Neukölln", "Kreuzberg", "Friedrichshain"],
        10,
    ),
    (
        "van@waypost.local",
        "Steglitz to Lichtenberg",
        ["Steglitz", "Schöneberg", "Tempelhof", "Kreuzberg", "Friedrichshain", "Lichtenberg"],
        11,
    ),
    ("courier@waypost.local", "Wedding to Kreuzberg", ["Wedding", "Mitte", "Kreuzberg"], 18),
]
# (shipper email, description, size, grams, value (minor), from, to, pickup hour)
PARCELS = [
    ("shipper@waypost.local", "Birthday present", "S", 800, 3_000, "Zoo", "Alexanderplatz", 8),
    (
        "shipper@waypost.local",
        "Borrowed drill",
        "M",
        2_400,
        9_000,
        "Charlottenburg",
        "Potsdamer Platz",
        7,
    ),
    ("bakery@waypost.local", "Sourdough order", "M", 3_000, 2_500, "Kreuzberg", "Mitte", 8),
    (
        "bakery@waypost.local",
        "Cake for an office party",
        "L",
        4_000,
        4_500,
        "Kreuzberg",
        "Friedrichshain",
        10,
    ),
    ("records@waypost.local", "Three LPs", "S", 900, 6_000, "Neukölln", "Friedrichshain", 10),
    ("records@waypost.local", "Turntable", "L", 7_500, 25_000, "Tempelhof", "Lichtenberg", 11),
    (
        "shipper@waypost.local",
        "Keys for a friend",
        "S",
        100,
        0,
        "Prenzlauer Berg",
        "Alexanderplatz",
        9,
    ),
    ("bakery@waypost.local", "Bread crates", "XL", 18_000, 5_000, "Schöneberg", "Kreuzberg", 11),
]


def _pt(name: str) -> Point:
    return Point(*P[name], srid=4326)


def _at(day: datetime, hour: int) -> datetime:
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


class Command(BaseCommand):
    help = "Seed a demo city (Berlin) with users, trips and open parcels. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        tomorrow = timezone.localtime() + timedelta(days=1)
        steps = 1 + len(SHIPPERS) + len(COURIERS) + len(TRIPS) + len(PARCELS)
        created = {"users": 0, "trips": 0, "parcels": 0}
        with tqdm(total=steps, desc="Seeding demo city", unit="item") as bar, transaction.atomic():
            created["users"] += self._admin()
            bar.update()
            for email, name in SHIPPERS:
                created["users"] += self._user(email, name, shipper=True)
                bar.update()
            for email, name, vehicle in COURIERS:
                created["users"] += self._courier(email, name, vehicle)
                bar.update()
            for email, label, stops, hour in TRIPS:
                created["trips"] += self._trip(email, label, stops, _at(tomorrow, hour))
                bar.update()
            for row in PARCELS:
                created["parcels"] += self._parcel(*row, day=tomorrow)
                bar.update()
        paid = self._pay_demo_parcels() if settings.PAYMENTS_REQUIRED else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo city ready: {created['users']} users, {created['trips']} trips, "
                f"{created['parcels']} parcels created, {paid} paid (existing ones kept)."
            )
        )
        self.stdout.write(f"Demo logins (password for all: {PASSWORD}):")
        self.stdout.write(f"  admin    {ADMIN[0]}   -> http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  shipper  {SHIPPERS[0][0]} -> http://127.0.0.1:8000/parcels/")
        self.stdout.write(
            f"  courier  {COURIERS[0][0]} -> http://127.0.0.1:8000/payouts/ "
            "(API: POST /api/v1/auth/token/)"
        )
        if settings.PAYMENTS_REQUIRED:
            self.stdout.write(
                f"Paying for a parcel on the site (Stripe test mode at {settings.STRIPE_API_BASE}):"
                f" card {TEST_CARD}, expiry 12 / 30, CVC 123; {DECLINED_CARD} is declined."
            )

    def _pay_demo_parcels(self) -> int:
        """Pay every demo parcel still waiting for its payment (a draft), with the test card."""
        waiting = []
        for email, description, *_ in PARCELS:
            parcel = (
                Parcel.objects.filter(shipper__email=email, description=description)
                .select_related("shipper")
                .order_by("created_at")
                .first()
            )
            if parcel is not None and parcel.status == ParcelStatus.DRAFT:
                waiting.append(parcel)
        paid = 0
        for parcel in tqdm(waiting, desc="Paying demo parcels", unit="parcel"):
            try:
                payment = payment_start(
                    parcel=parcel, shipper=parcel.shipper, payment_method="pm_card_visa"
                )
            except (ApplicationError, StripeError) as exc:
                message = getattr(exc, "message", "") or str(exc)
                raise CommandError(
                    f"Could not pay the demo parcel {parcel.pk} at {settings.STRIPE_API_BASE}: "
                    f"{message}\nIs localstripe running? Start it with "
                    "`.venv/bin/python scripts/run_localstripe.py` (`make run` starts it for "
                    "you), or set PAYMENTS_REQUIRED=false. Then run seed_demo again: what was "
                    "seeded is kept."
                ) from exc
            if payment.status == PaymentStatus.SUCCEEDED:
                paid += 1
            else:
                self.stderr.write(
                    f"Demo parcel {parcel.pk} is not paid ({payment.get_status_display()}): "
                    f"{payment.failure_message}"
                )
        return paid

    def _admin(self) -> int:
        if User.objects.filter(email=ADMIN[0]).exists():
            return 0
        User.objects.create_superuser(email=ADMIN[0], password=PASSWORD, full_name=ADMIN[1])
        return 1

    def _user(self, email: str, name: str, *, shipper: bool) -> int:
        if User.objects.filter(email=email).exists():
            return 0
        User.objects.create_user(
            email=email,
            password=PASSWORD,
            full_name=name,
            is_shipper=shipper,
            phone="+49 30 555 0100",
        )
        return 1

    def _courier(self, email: str, name: str, vehicle: str) -> int:
        created = self._user(email, name, shipper=False)
        user = User.objects.get(email=email)
        profile = getattr(user, "courier_profile", None) or courier_profile_upsert(
            user=user, vehicle_type=vehicle
        )
        if profile.verification_status != VerificationStatus.VERIFIED:
            admin = User.objects.get(email=ADMIN[0])
            courier_set_verification(
                profile=profile, status=VerificationStatus.VERIFIED, admin=admin, note="Demo data"
            )
        return created

    def _trip(self, email: str, label: str, stops: list[str], departure: datetime) -> int:
        courier = User.objects.get(email=email)
        if Trip.objects.filter(courier=courier, origin_label=label).exists():
            return 0
        trip_create(
            courier=courier,
            route=LineString([P[s] for s in stops], srid=4326),
            route_source="geojson",
            origin_label=label,
            destination_label=stops[-1],
            departure_earliest=departure,
            departure_latest=departure + timedelta(minutes=30),
        )
        return 1

    def _parcel(
        self,
        email: str,
        description: str,
        size: str,
        grams: int,
        value: int,
        origin: str,
        destination: str,
        hour: int,
        *,
        day: datetime,
    ) -> int:
        shipper = User.objects.get(email=email)
        if Parcel.objects.filter(shipper=shipper, description=description).exists():
            return 0
        start = _at(day, hour) - timedelta(minutes=30)
        parcel_create(
            shipper=shipper,
            description=description,
            size_class=size,
            weight_grams=grams,
            declared_value=value,
            prohibited_items_declared=True,
            pickup_point=_pt(origin),
            pickup_address=f"{origin}, Berlin",
            pickup_contact_name=shipper.full_name,
            pickup_contact_phone="+49 30 555 0101",
            pickup_window_start=start,
            pickup_window_end=start + timedelta(hours=2),
            dropoff_point=_pt(destination),
            dropoff_address=f"{destination}, Berlin",
            dropoff_contact_name="Demo Recipient",
            dropoff_contact_phone="+49 30 555 0102",
            delivery_window_start=start + timedelta(minutes=30),
            delivery_window_end=start + timedelta(hours=4),
        )
        return 1
