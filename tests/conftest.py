import pytest
from rest_framework.test import APIClient

from tests.factories.accounts import CourierFactory, ShipperFactory

# localstripe_server, payments_on, stripe_connect: for the payments tests and any other.
pytest_plugins = ["tests.stripe_fixtures"]


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
