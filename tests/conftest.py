import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories.accounts import CourierFactory, ShipperFactory

# localstripe_server, payments_on, stripe_connect: for the payments tests and any other.
pytest_plugins = ["tests.stripe_fixtures"]

LOCALE = Path(__file__).resolve().parent.parent / "locale"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the translations that are missing or older than their .po (the .mo files are not
    committed; `scripts/bootstrap.sh messages` makes them too), before any test speaks German."""
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        msgfmt = shutil.which("msgfmt")
        if msgfmt is None:
            pytest.exit("msgfmt is missing: apt-get install gettext (docs/languages.md)", 3)
        subprocess.run([msgfmt, "--check", "-o", str(mo), str(po)], check=True)


@pytest.fixture(autouse=True)
def _operators_language():
    """Each test starts in the operator's language: a request's language (LocaleMiddleware
    activates it) would otherwise stay active in this thread for the tests after it."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def shipper(db):
    return ShipperFactory()


@pytest.fixture
def courier(db):
    return CourierFactory()


@pytest.fixture
def shipper_client(shipper) -> APIClient:
    client = APIClient()
    client.force_authenticate(shipper)
    return client


@pytest.fixture
def courier_client(courier) -> APIClient:
    client = APIClient()
    client.force_authenticate(courier)
    return client
