"""Production: everything secret or host-specific must come from the environment; the process
refuses to start without it (django-environ raises ImproperlyConfigured)."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import database_pool, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to at least 50 random characters.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the hosts this site serves.")


def _webhook_secret(name: str) -> str:
    """A Stripe endpoint's signing secret: anyone who knew a development default could forge
    events, so production refuses to start without a real one."""
    secret = env.str(name, default="")
    if not secret.startswith("whsec_") or secret in STRIPE_WEBHOOK_SECRET_PLACEHOLDERS:  # noqa: F405
        raise ImproperlyConfigured(
            f"{name} must be set to the endpoint's signing secret from Stripe's dashboard "
            "(whsec_...), not the development default."
        )
    return secret


STRIPE_WEBHOOK_SECRET = _webhook_secret("STRIPE_WEBHOOK_SECRET")
STRIPE_CONNECT_WEBHOOK_SECRET = _webhook_secret("STRIPE_CONNECT_WEBHOOK_SECRET")
DATABASES = {"default": env.db_url("DATABASE_URL", engine="marketplace.core.database")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
database_pool(DATABASES["default"], enabled=env.bool("DATABASE_POOL", default=False))

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)

# One JSON object per log line (LOG_FORMAT=plain for readable lines).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = "plain" if LOG_FORMAT == "plain" else "json"  # noqa: F405

# Errors to Sentry when SENTRY_DSN is set (no personal data sent).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )
