"""Environment-driven settings, production refusal, Celery wiring, on-commit helpers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app
from marketplace.core.transactions import enqueue_on_commit

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "Kx9#mQ2$vL7!pR4&wT8^zN3*bF6(hJ1)cD5_gS0+aEyUoIiP-lKjHgFdSaZxCvBnM",
    "DJANGO_ALLOWED_HOSTS": "waypost.example.com",
    "DATABASE_URL": "postgis://postgres@127.0.0.1:5432/waypost",
    "STRIPE_WEBHOOK_SECRET": "whsec_9f3Kq2LmX7vR1tZ8pW4nB6yC0dH5sJ",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_A1b2C3d4E5f6G7h8I9j0KlMnOpQr",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "STRIPE_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_CONNECT_WEBHOOK_SECRET",
    ],
)
def test_production_refuses_to_start_without_required_env(missing):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize("name", ["STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET"])
@pytest.mark.parametrize(
    "value", ["whsec_waypost_platform", "whsec_waypost_connect", "not-a-signing-secret", ""]
)
def test_production_refuses_the_development_webhook_secrets(name, value):
    result = _manage("check", env=PROD_ENV | {name: value})
    assert result.returncode != 0
    assert name in result.stderr and "ImproperlyConfigured" in result.stderr


def test_production_passes_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_database_is_postgis_over_psycopg3():
    import psycopg
    from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGIS
    from django.db import connections

    # (our backend is GeoDjango's PostGIS one with a pool that gets over a restart)
    assert settings.DATABASES["default"]["ENGINE"] == "marketplace.core.database"
    assert isinstance(connections["default"], PostGIS)
    assert psycopg.__version__.startswith("3.")


def test_only_the_gdal_version_check_is_silenced():
    assert settings.SILENCED_SYSTEM_CHECKS == ["gis.W001"]


def test_celery_reads_its_config_from_django_settings():
    assert celery_app.conf.broker_url == settings.CELERY_BROKER_URL
    assert celery_app.conf.task_acks_late is True
    assert celery_app.main == "marketplace"


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def delay(self, *args, **kwargs) -> None:
        self.calls.append((args, kwargs))


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    task = _Recorder()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit(task, 7, reason="test")
        assert task.calls == []
    assert len(callbacks) == 1
    assert task.calls == [((7,), {"reason": "test"})]


def test_the_database_pool_replaces_persistent_connections():
    from config.settings.base import database_pool

    pooled = {"CONN_MAX_AGE": 60, "OPTIONS": {"sslmode": "prefer"}}
    database_pool(pooled, enabled=True)
    assert pooled["CONN_MAX_AGE"] == 0  # Django refuses both at once
    assert pooled["OPTIONS"]["sslmode"] == "prefer"
    assert pooled["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 10.0}

    unpooled = {"CONN_MAX_AGE": 60}
    database_pool(unpooled, enabled=False)
    assert unpooled == {"CONN_MAX_AGE": 60}


def test_the_connection_pool_is_off_unless_asked_for(db):
    from django.db import connection

    assert connection.pool is None  # DATABASE_POOL defaults to false (docs/setup.md)
