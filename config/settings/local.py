"""Development: `make run`. Embedded defaults so only PostgreSQL is needed: eager Celery, the
in-memory channel layer unless REDIS_URL is set, console email."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdef"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Stripe: localstripe on loopback (started by `make run` and by the test suite).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:8420")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default=STRIPE_API_BASE + "/js.stripe.com/v3/")
# Development: webhook endpoints may be a receiver on this machine, over plain http.
HOOKS_ALLOW_HTTP = env.bool("HOOKS_ALLOW_HTTP", default=True)
HOOKS_ALLOW_LOOPBACK = env.bool("HOOKS_ALLOW_LOOPBACK", default=True)
