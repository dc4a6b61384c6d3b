"""Languages (issue 14, item 2): pages in the browser's language, the signed-in person's own
(stored on the account, set on the profile or with the footer's chooser), forms and their errors
translated; money, numbers and dates written the way the reader's language writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from marketplace.accounts.models import User
from tests.factories.parcels import make_parcel
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db

NBSP = "\xa0"
GERMAN_MONTHS = "Jan Feb Mär Apr Mai Jun Jul Aug Sep Okt Nov Dez".split()  # noqa: SIM905


def test_an_anonymous_visitor_reads_the_browsers_language(client):
    german = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    french = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9")
    other = client.get("/", HTTP_ACCEPT_LANGUAGE="fi")

    assert '<html lang="de">' in german.content.decode()
    assert text_of(german.content.decode(), "nav-login") == "Anmelden"
    assert german["Content-Language"] == "de"
    assert text_of(french.content.decode(), "nav-login") == "Se connecter"
    assert text_of(other.content.decode(), "nav-login") == "Log in"  # not spoken: the operator's


def test_a_signed_in_persons_own_language_wins_over_the_browsers(client, alice):
    # given: Alice chose French; her browser asks for German
    User.objects.filter(pk=alice.pk).update(language="fr")
    client.force_login(alice)

    # when
    html = client.get(reverse("web:dashboard"), HTTP_ACCEPT_LANGUAGE="de").content.decode()

    # then
    assert '<html lang="fr">' in html
    assert text_of(html, "nav-post") == "Publier un colis"
    assert "Mes colis" in html


def test_the_chooser_sets_the_language_and_stores_it_on_the_account(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("set_language"), {"language": "de", "next": reverse("web:profile")}
    )

    assert response.status_code == 302 and response["Location"] == reverse("web:profile")
    alice.refresh_from_db()
    assert alice.language == "de"
    html = client.get(reverse("web:profile"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert text_of(html, "nav-profile") == "Profil"
    assert "Ihr Profil" in html


def test_the_chooser_works_without_an_account_by_cookie(client):
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})

    html = client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert text_of(html, "nav-signup") == "S'inscrire"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"


def test_an_unknown_language_from_the_chooser_changes_nothing(client, alice):
    client.force_login(alice)

    client.post(reverse("set_language"), {"language": "xx", "next": "/"})

    alice.refresh_from_db()
    assert alice.language == ""


def test_the_profile_stores_the_language_and_refuses_an_unknown_one(client, alice):
    client.force_login(alice)
    form = {"full_name": "Alice", "phone": "", "time_zone": "", "language": "fr"}

    saved = client.post(reverse("web:profile"), form, follow=True).content.decode()
    alice.refresh_from_db()
    refused = client.post(reverse("web:profile"), {**form, "language": "tlh"}).content.decode()

    assert alice.language == "fr"
    assert "Votre profil est enregistré." in text_of(saved, "messages")
    assert text_of(refused, "error-language") == (
        "« tlh » n'est pas une langue de ce site ; choisissez-en une dans la liste."
    )
    alice.refresh_from_db()
    assert alice.language == "fr"  # nothing changed


def test_signing_up_keeps_the_language_of_the_page(client):
    client.post(
        reverse("web:signup"),
        {
            "email": "dora@example.com",
            "full_name": "Dora",
            "password1": "Wanderung-am-See-81",
            "password2": "Wanderung-am-See-81",
            "is_shipper": "on",
        },
        HTTP_ACCEPT_LANGUAGE="de",
    )

    assert User.objects.get(email="dora@example.com").language == "de"


def test_form_errors_are_in_the_readers_language(client):
    html = client.post(
        reverse("web:login"),
        {"username": "nobody@example.com", "password": "wrong"},
        HTTP_ACCEPT_LANGUAGE="de",
    ).content.decode()

    summary = text_of(html, "error-summary")
    assert summary.startswith("Bitte korrigieren Sie den Fehler unten")
    assert "Falsche E-Mail-Adresse oder falsches Passwort." in summary


def test_a_parcel_page_in_german_writes_money_weights_and_dates_the_german_way(client, alice):
    # given: a parcel of 2.5 kg, 40.00 EUR declared, picked up next week on a Monday at 14:05
    User.objects.filter(pk=alice.pk).update(language="de", time_zone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    day = timezone.localdate(timezone.now(), berlin) + timedelta(days=7)
    day += timedelta(days=-day.weekday())  # that week's Monday, 1 to 7 days ahead
    start = datetime(day.year, day.month, day.day, 14, 5, tzinfo=berlin)
    parcel = make_parcel(
        shipper=alice,
        weight_grams=2_500,
        declared_value=4_000,
        pickup_window_start=start,
        pickup_window_end=start + timedelta(hours=2),
        delivery_window_start=start,
        delivery_window_end=start + timedelta(hours=5),
    )
    client.force_login(alice)

    # when
    html = client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()
    dashboard = client.get(reverse("web:dashboard")).content.decode()

    # then
    total = parcel.price_total
    month = GERMAN_MONTHS[day.month - 1]
    assert text_of(html, "price-total") == f"{total // 100},{total % 100:02d} €"  # spaces collapsed
    assert f"40,00{NBSP}€" in html and "2,5 kg" in html
    assert f"Mo, {day.day}. {month} {day.year}, 14:05" in html
    assert f"Mo, {day.day}. {month}, 14:05" in dashboard


def test_the_same_page_in_english_and_french(client, alice):
    parcel = make_parcel(shipper=alice, declared_value=99_950)
    client.force_login(alice)

    english = client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()
    User.objects.filter(pk=alice.pk).update(language="fr")
    french = client.get(reverse("web:parcel_detail", args=[parcel.pk])).content.decode()

    assert "€999.50" in english
    assert f"999,50{NBSP}€" in french
    assert "Valeur déclarée" in french


@pytest.mark.parametrize(
    ("language", "day_time", "long_date"),
    [
        ("en", "Mon 7 Dec, 14:05", "7 December 2026"),
        ("de", "Mo, 7. Dez, 14:05", "7. Dezember 2026"),
        ("fr", "lun 7 déc, 14:05", "7 décembre 2026"),
    ],
)
def test_dates_follow_the_readers_language(language, day_time, long_date):
    template = Template('{% load waypost %}{{ at|when:"day_time" }}|{{ at|when:"long_date" }}')
    at = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)

    with translation.override(language):
        assert template.render(Context({"at": at})) == f"{day_time}|{long_date}"


@pytest.mark.parametrize(
    ("language", "weight", "distance"),
    [
        ("en", "1,234.5 kg", "12.3 km"),
        ("de", "1.234,5 kg", "12,3 km"),
        ("fr", "1\u202f234,5 kg", "12,3 km"),
    ],
)
def test_numbers_follow_the_readers_language(language, weight, distance):
    template = Template("{% load waypost %}{{ grams|kg }}|{{ metres|km }}")

    with translation.override(language):
        text = template.render(Context({"grams": 1_234_500, "metres": 12_345}))

    assert text.replace(NBSP, "\u202f") == f"{weight}|{distance}".replace(NBSP, "\u202f")
