"""Tests: real PostgreSQL/PostGIS and Redis, fast hashing, no outside network."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default="/tmp/waypost-test-media")  # noqa: S108
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests use the real Redis channel layer (never mocked). Pub/Sub channels are not scoped by the
# database number, so suites run side by side need their own TEST_CHANNELS_PREFIX.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/15")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("TEST_CHANNELS_PREFIX", default="test")},
    }
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min", "auth": "1000/min"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Stripe: localstripe on loopback (started by `make run` and by the test suite).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:8420")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default=STRIPE_API_BASE + "/js.stripe.com/v3/")
# Most tests exercise matching and deliveries without a card; payment tests turn this on.
PAYMENTS_REQUIRED = False
# The tests' webhook receivers listen on loopback over plain http.
HOOKS_ALLOW_HTTP = True
HOOKS_ALLOW_LOOPBACK = True
