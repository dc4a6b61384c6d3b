"""/healthz and /readyz as a load balancer calls them: any host, plain http, no login; /readyz
names the dependency that failed (real closed ports, nothing mocked)."""

import socket

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lb(client, settings):
    # As production: https redirects on, only the public host allowed.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["waypost.example"]
    return client


@pytest.mark.django_db
def test_healthz_answers_without_io_for_any_host(lb):
    with CaptureQueriesContext(connection) as queries:
        response = lb.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": "ok"}}
    assert response["Cache-Control"] == "no-store"
    assert len(queries) == 0
    assert lb.get("/healthz/", HTTP_HOST="10.0.0.7").status_code == 200


@pytest.mark.django_db
def test_readyz_checks_database_redis_and_broker(lb, settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    response = lb.get("/readyz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    assert set(body["seconds"]) == {"database", "redis", "broker"}


@pytest.mark.django_db
def test_readyz_names_redis_when_it_is_down(lb, settings):
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_URL = "memory://"
    response = lb.get("/readyz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["broker"] == "ok"
    assert checks["redis"].startswith("ConnectionError")


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_is_down(lb, settings):
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    response = lb.get("/readyz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["broker"] != "ok"
    assert body["seconds"]["broker"] < 5


@pytest.mark.django_db
def test_readyz_against_rabbitmq(lb, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    assert lb.get("/readyz", HTTP_HOST="10.0.0.7").json()["checks"]["broker"] == "ok"


def test_health_paths_are_get_only(lb):
    response = lb.post("/healthz", HTTP_HOST="10.0.0.7")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_other_paths_still_get_host_checks_and_redirects(lb):
    assert lb.get("/", HTTP_HOST="10.0.0.7").status_code == 400
    assert lb.get("/", HTTP_HOST="waypost.example").status_code == 301
