"""Settings shared by every environment. Everything that differs between machines comes from the
environment (django-environ); `.env` at the project root is read when present."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

# --- core -----------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "django.contrib.humanize",
    # third party
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "channels",
    "rest_framework_api_key",
    "django_prometheus",
    # ours
    "marketplace.core",
    "marketplace.accounts",
    "marketplace.merchants",
    "marketplace.parcels",
    "marketplace.trips",
    "marketplace.matching",
    "marketplace.deliveries",
    "marketplace.payments",
    "marketplace.notifications",
    "marketplace.tracking",
    "marketplace.chat",
    "marketplace.returns",
    "marketplace.hooks",
    "marketplace.lifecycle",
    "marketplace.web",
    "marketplace.backoffice",
    "marketplace.bench",
]

MIDDLEWARE = [
    # /healthz and /readyz, before host checks and https redirects (marketplace/core/health.py).
    "marketplace.core.health.HealthCheckMiddleware",
    # /metrics for Prometheus, token or allowed networks (marketplace/core/metrics_endpoint.py).
    "marketplace.core.metrics_endpoint.MetricsMiddleware",
    # Request counts and latencies by view (django-prometheus): first and last of the rest.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # X-Request-ID and one log line per request (marketplace/core/log_context.py).
    "marketplace.core.log_context.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The chooser's cookie, else Accept-Language, else LANGUAGE_CODE (docs/languages.md).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in person's time zone, else the operator's (marketplace/core/timezones.py).
    "marketplace.core.timezones.TimeZoneMiddleware",
    # The signed-in person's own language (User.language) wins (marketplace/core/languages.py).
    "marketplace.core.languages.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.web.context_processors.site",
            ],
        },
    },
]

# --- database: GeoDjango's PostGIS backend over psycopg 3 (marketplace/core/database) ------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgis://postgres@127.0.0.1:5432/waypost",
        engine="marketplace.core.database",
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def database_pool(database: dict[str, Any], *, enabled: bool) -> None:
    """Keep a pool of connections per process (psycopg_pool, Django's OPTIONS["pool"]) instead
    of a connection per request: under ASGI every request runs in a context of its own, so
    without a pool each one opens (and config/asgi.py closes) a PostgreSQL connection. A pooled
    connection is checked before it is handed out (CONN_HEALTH_CHECKS), and the first dead one
    found sends the whole pool through a check (marketplace/core/database/base.py), so a
    restarted PostgreSQL costs the next request about a second, not a timeout. Django refuses
    CONN_MAX_AGE with a pool: the pool keeps them."""
    if not enabled:
        return
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }


database_pool(DATABASES["default"], enabled=env.bool("DATABASE_POOL", default=False))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# GDAL/GEOS from the OS. Debian names the libraries with their ABI number; allow overrides.
GDAL_LIBRARY_PATH = env.str("GDAL_LIBRARY_PATH", default=None)
GEOS_LIBRARY_PATH = env.str("GEOS_LIBRARY_PATH", default=None)

# --- auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- i18n (docs/languages.md) ------------------------------------------------------------------
# The operator's language: what everyone reads whose browser asks for none of LANGUAGES.
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
# Our catalogs: locale/<code>/LC_MESSAGES/django.po, compiled by `scripts/bootstrap.sh messages`.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Dates and decimals follow the reader's language (Django's formats); money, weights and
# distances are formatted by marketplace/core/money.py and the `waypost` template filters, with
# thousands grouped there only (a global USE_THOUSAND_SEPARATOR would group ids in URLs too).

# --- static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploads above this size are refused with a form/API error (parcel photos).
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024

# --- marketplace --------------------------------------------------------------------------------
# The currency every price is quoted in (ISO 4217) and its number of minor units.
MARKETPLACE_CURRENCY = env.str("MARKETPLACE_CURRENCY", default="EUR").upper()
# Quote tariff, in minor units of MARKETPLACE_CURRENCY.
QUOTE_BASE_FEE = env.int("QUOTE_BASE_FEE", default=300)
QUOTE_PER_KM = env.int("QUOTE_PER_KM", default=60)
QUOTE_PER_KG = env.int("QUOTE_PER_KG", default=20)
QUOTE_MINIMUM = env.int("QUOTE_MINIMUM", default=500)
QUOTE_PLATFORM_FEE_PERCENT = env.int("QUOTE_PLATFORM_FEE_PERCENT", default=20)
QUOTE_VALIDITY_MINUTES = env.int("QUOTE_VALIDITY_MINUTES", default=15)
# Site and map: where the shipper's map loads its tiles from (no tiles are bundled).
SITE_NAME = env.str("SITE_NAME", default="Waypost")
MAP_TILE_URL = env.str("MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env.str("MAP_TILE_ATTRIBUTION", default="&copy; OpenStreetMap contributors")
# Where the map opens (the operator's city); lat, lon.
MAP_DEFAULT_CENTER = env.list("MAP_DEFAULT_CENTER", cast=float, default=[52.520, 13.405])
MAP_DEFAULT_ZOOM = env.int("MAP_DEFAULT_ZOOM", default=12)

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": tuple(MAP_DEFAULT_CENTER),
    "DEFAULT_ZOOM": MAP_DEFAULT_ZOOM,
    "TILES": [("Map", MAP_TILE_URL, {"attribution": MAP_TILE_ATTRIBUTION, "maxZoom": 19})],
    "RESET_VIEW": False,
}

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, answering in the token user's language (marketplace/core/languages.py).
        "marketplace.core.languages.LanguageJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "marketplace.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "marketplace.core.pagination.DefaultPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "marketplace.core.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "auth": env.str("API_THROTTLE_AUTH", default="20/min"),
    },
    "EXCEPTION_HANDLER": "marketplace.core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Waypost API",
    "DESCRIPTION": "Crowdshipping: shippers post parcels, commuting couriers carry them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema URL to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ParcelStatusEnum": "marketplace.parcels.models.ParcelStatus",
        "TripStatusEnum": "marketplace.trips.models.TripStatus",
        "SizeClassEnum": "marketplace.core.sizes.SizeClass",
        "DeliveryStatusEnum": "marketplace.deliveries.models.DeliveryStatus",
        "OfferStatusEnum": "marketplace.matching.models.OfferStatus",
        "CancelledByEnum": "marketplace.deliveries.models.CancelledBy",
        "PaymentStatusEnum": "marketplace.payments.models.PaymentStatus",
        "TransferStatusEnum": "marketplace.payments.models.TransferStatus",
        "TransferKindEnum": "marketplace.payments.models.TransferKind",
        "VehicleTypeEnum": "marketplace.accounts.models.VehicleType",
        "VerificationStatusEnum": "marketplace.accounts.models.VerificationStatus",
        "ReturnStatusEnum": "marketplace.returns.models.ReturnStatus",
        "StopKindEnum": [("pickup", "pickup"), ("dropoff", "dropoff")],
        "ReturnReasonEnum": "marketplace.returns.models.ReturnReason",
        "RequestedByEnum": "marketplace.returns.models.RequestedBy",
    },
}

# --- Celery ---------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Workers log through Django's LOGGING (JSON in production), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# The Redis broker hands a task that was taken but never acknowledged (its worker died) to
# another worker only after this many seconds. It must exceed the longest task plus the longest
# retry countdown, or a slow task would run twice: the longest are payments' (a few Stripe
# requests of at most 3 x STRIPE_TIMEOUT_SECONDS each, retried after 1 to 16 s). Lost tasks do
# not wait for it: the sweep (TASK_SWEEP_SECONDS) queues again the matching, releases and refunds
# they should have done. See docs/production.md, "Lost tasks".
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
}
# How often the sweep of lost tasks runs, how long a change must be old before it counts as
# lost (a task may still wait in the queue), and how many of each kind one run queues.
TASK_SWEEP_SECONDS = env.int("TASK_SWEEP_SECONDS", default=60)
TASK_SWEEP_GRACE_SECONDS = env.int("TASK_SWEEP_GRACE_SECONDS", default=120)
TASK_SWEEP_BATCH = env.int("TASK_SWEEP_BATCH", default=1000)

# --- Channels -------------------------------------------------------------------------------------
# Redis Pub/Sub ignores the database number of REDIS_URL: processes sharing a Redis (tests, the
# live benchmark, another checkout) keep their groups apart by this prefix of the channel names.
CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="waypost")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYER_PREFIX},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- logging --------------------------------------------------------------------------------------
# Plain lines locally; LOG_FORMAT=json (production's default) writes one JSON object per line
# with request_id, user_id, parcel_id, delivery_id, task_id (marketplace/core/log_context.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "marketplace.core.log_context.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # stripe-python logs every API call at INFO: only its warnings here.
        "stripe": {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")},
        # One line per request is ours (marketplace.request); Django's own only for errors.
        "django.server": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# --- email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Waypost <no-reply@waypost.local>")

# --- system checks ---------------------------------------------------------------------------
# gis.W001: Debian 12 ships GDAL 3.6, which cannot block file/network access while it resolves
# spatial references; 3.9+ can. Safe here because no user input reaches GDAL's SRS parser: the API
# and the shipper forms parse coordinates ourselves (marketplace.core.geo) into GEOS geometries with
# a fixed SRID 4326, and transforms run in PostGIS on fixed SRIDs. Only staff in the admin submit
# GeoJSON that GDAL reads. See docs/setup.md, "GDAL and gis.W001". Only that check is silenced.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- matching and deliveries ------------------------------------------------------------------
# How many couriers are offered a parcel at once, and for how long each offer stands.
MATCHING_OFFERS_PER_PARCEL = env.int("MATCHING_OFFERS_PER_PARCEL", default=3)
MATCHING_OFFER_TTL_MINUTES = env.int("MATCHING_OFFER_TTL_MINUTES", default=20)
# "greedy": each parcel is offered to its best MATCHING_OFFERS_PER_PARCEL couriers as it opens
# (first to accept wins). "batch": every MATCHING_BATCH_SECONDS the open parcels and the trips
# they fit are assigned together (most parcels served, then least detour; docs/matching.md) and
# each parcel is offered to the one courier chosen for it.
MATCHING_POLICY = env.str("MATCHING_POLICY", default="greedy")
MATCHING_BATCH_SECONDS = env.int("MATCHING_BATCH_SECONDS", default=30)
MATCHING_BATCH_TIME_LIMIT = env.float("MATCHING_BATCH_TIME_LIMIT", default=2.0)
MATCHING_BATCH_MAX_PARCELS = env.int("MATCHING_BATCH_MAX_PARCELS", default=5000)
MATCHING_BATCH_FITS_PER_PARCEL = env.int("MATCHING_BATCH_FITS_PER_PARCEL", default=10)
# A parcel a batch found no trip for is left out of the next batches for this long (unless it
# changes or a trip is posted): room freed on a trip is noticed within this delay.
MATCHING_BATCH_RECHECK_SECONDS = env.int("MATCHING_BATCH_RECHECK_SECONDS", default=300)
# A parcel whose pickup window closes within this many minutes wins a contested seat (its cost
# is lowered by MATCHING_URGENT_BONUS_M metres of detour).
MATCHING_URGENT_MINUTES = env.int("MATCHING_URGENT_MINUTES", default=60)
MATCHING_URGENT_BONUS_M = env.int("MATCHING_URGENT_BONUS_M", default=2000)
# Wrong pickup/delivery code entries allowed before the code locks (the shipper can reissue).
DELIVERY_CODE_MAX_ATTEMPTS = env.int("DELIVERY_CODE_MAX_ATTEMPTS", default=5)
# Kept from the shipper's payment when they cancel after the courier set off (minor units).
CANCELLATION_FEE = env.int("CANCELLATION_FEE", default=300)
# Reliability points a courier loses for giving up an accepted parcel before pickup.
COURIER_CANCEL_PENALTY = env.int("COURIER_CANCEL_PENALTY", default=10)

# --- returns (marketplace.returns) -------------------------------------------------------------
# Days after delivery in which the shipper or the recipient may ask to send a parcel back.
RETURN_WINDOW_DAYS = env.int("RETURN_WINDOW_DAYS", default=14)
# The reverse parcel's default pickup window (from the request) and delivery deadline, in hours.
RETURN_PICKUP_WINDOW_HOURS = env.int("RETURN_PICKUP_WINDOW_HOURS", default=48)
RETURN_DELIVERY_WINDOW_HOURS = env.int("RETURN_DELIVERY_WINDOW_HOURS", default=96)
# Who pays the way back: "shipper" (pays the return's quote into escrow, like any parcel) or
# "platform" (the shipper pays nothing; the platform funds the courier's share from its revenue).
RETURN_FEE_PAYER = env.str("RETURN_FEE_PAYER", default="shipper")
# When a delivered parcel comes back: refund the original order's platform fee ("platform_fee")
# or nothing ("none"). A parcel sent back after a failed delivery is always refunded in full.
RETURN_REFUND_ORIGINAL = env.str("RETURN_REFUND_ORIGINAL", default="none")
CELERY_BEAT_SCHEDULE = {
    "expire-offers": {"task": "marketplace.matching.tasks.expire_offers", "schedule": 60.0},
    "expire-parcels": {"task": "marketplace.matching.tasks.expire_parcels", "schedule": 300.0},
    "sweep-lost-tasks": {
        "task": "marketplace.lifecycle.tasks.sweep_lost_tasks",
        "schedule": float(TASK_SWEEP_SECONDS),
    },
    # Does nothing unless MATCHING_POLICY = "batch".
    "assign-batch": {
        "task": "marketplace.lifecycle.tasks.assign_batch",
        "schedule": float(MATCHING_BATCH_SECONDS),
    },
}

# --- payments (Stripe Connect, "separate charges and transfers") ---------------------------------
# In development and tests the API base points at localstripe on loopback (scripts/localstripe.py).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="sk_test_waypost_local")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="pk_test_waypost_local")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# The defaults sign the local simulator's and the tests' events; production refuses them.
STRIPE_WEBHOOK_SECRET_PLACEHOLDERS = ("whsec_waypost_platform", "whsec_waypost_connect")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="whsec_waypost_platform")
STRIPE_CONNECT_WEBHOOK_SECRET = env.str(
    "STRIPE_CONNECT_WEBHOOK_SECRET", default="whsec_waypost_connect"
)
# Seconds before one request to Stripe gives up (it is retried twice, then the task retries).
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# Stripe's events are a few KB; bodies beyond this are refused (413) before they are parsed.
STRIPE_WEBHOOK_MAX_BYTES = env.int("STRIPE_WEBHOOK_MAX_BYTES", default=512 * 1024)
# Shippers must pay before a parcel is offered to couriers.
PAYMENTS_REQUIRED = env.bool("PAYMENTS_REQUIRED", default=True)
# Declared values above the cover limit are refused (minor units of MARKETPLACE_CURRENCY).
PARCEL_COVER_LIMIT = env.int("PARCEL_COVER_LIMIT", default=100_000)
# What may not be sent; shippers declare at posting that a parcel holds none of it (an empty
# list turns the declaration off).
PARCEL_PROHIBITED_ITEMS = env.list(
    "PARCEL_PROHIBITED_ITEMS",
    default=[
        "weapons and ammunition",
        "explosives and fireworks",
        "drugs",
        "live animals",
        "cash and securities",
        "hazardous or flammable goods",
    ],
)
# Days to wait after delivery before the courier's share is transferred (0 = at once).
PAYOUT_HOLD_DAYS = env.int("PAYOUT_HOLD_DAYS", default=0)
# Where Stripe's hosted onboarding sends couriers back to.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
CELERY_BEAT_SCHEDULE.update(
    {
        "send-due-transfers": {
            "task": "marketplace.payments.tasks.send_due_transfers",
            "schedule": 300.0,
        },
        "retry-webhook-events": {
            "task": "marketplace.payments.tasks.retry_webhook_events",
            "schedule": 300.0,
        },
        "reconcile-ledger": {
            "task": "marketplace.payments.tasks.reconcile_ledger",
            "schedule": 3600.0,
        },
    }
)

# --- live features -------------------------------------------------------------------------------
PUSH_PROVIDER = env.str(
    "PUSH_PROVIDER", default="marketplace.notifications.push.LoggingPushProvider"
)
# Text messages to recipients (notifications.sms); the default provider only logs.
SMS_PROVIDER = env.str("SMS_PROVIDER", default="marketplace.notifications.sms.LoggingSmsProvider")
RECIPIENT_SMS = env.bool("RECIPIENT_SMS", default=True)

# --- chat -----------------------------------------------------------------------------------------
# A delivery's conversation closes to new messages this many days after the hand-over (its history
# stays readable); an open dispute on the parcel's payment reopens it.
CHAT_CLOSE_DAYS = env.int("CHAT_CLOSE_DAYS", default=7)
# Characters per message.
CHAT_MAX_LENGTH = env.int("CHAT_MAX_LENGTH", default=2000)
# Per user, across all conversations: at most CHAT_RATE_LIMIT messages in CHAT_RATE_WINDOW_SECONDS.
CHAT_RATE_LIMIT = env.int("CHAT_RATE_LIMIT", default=20)
CHAT_RATE_WINDOW_SECONDS = env.int("CHAT_RATE_WINDOW_SECONDS", default=60)

# --- tracking (marketplace.tracking) -------------------------------------------------------------
# Location pings are deleted this many days after they arrive (task purge_old_pings).
TRACKING_RETENTION_DAYS = env.int("TRACKING_RETENTION_DAYS", default=30)
# "Courier arriving" is sent once, when the courier comes this close to the drop-off (metres).
TRACKING_ARRIVING_M = env.int("TRACKING_ARRIVING_M", default=150)
# Pings are refused when less accurate than this (metres), when moving from the previous ping
# would take more than this speed, when their device time is ahead of ours by more than the skew,
# or older than the age; a REST batch holds at most TRACKING_MAX_BATCH pings.
TRACKING_MAX_ACCURACY_M = env.int("TRACKING_MAX_ACCURACY_M", default=200)
TRACKING_MAX_SPEED_KMH = env.int("TRACKING_MAX_SPEED_KMH", default=200)
TRACKING_MAX_CLOCK_SKEW_S = env.int("TRACKING_MAX_CLOCK_SKEW_S", default=30)
TRACKING_MAX_PING_AGE_HOURS = env.int("TRACKING_MAX_PING_AGE_HOURS", default=24)
TRACKING_MAX_BATCH = env.int("TRACKING_MAX_BATCH", default=500)
CELERY_BEAT_SCHEDULE["purge-old-pings"] = {
    "task": "marketplace.tracking.tasks.purge_old_pings",
    "schedule": 3600.0,
}

# --- personal data: retention (issue 14; docs/personal-data.md) ----------------------------------
# Days after a delivery finished (delivered, or its last change if cancelled, handed back or sent
# back) before its positions, chat photos, and proof photo and signature are deleted; never while
# the delivery is open, its parcel on its way back or its payment disputed (task
# purge_personal_data).
RETENTION_POSITIONS_DAYS = env.int("RETENTION_POSITIONS_DAYS", default=30)
RETENTION_CHAT_IMAGES_DAYS = env.int("RETENTION_CHAT_IMAGES_DAYS", default=180)
RETENTION_PROOF_DAYS = env.int("RETENTION_PROOF_DAYS", default=365)
CELERY_BEAT_SCHEDULE["purge-personal-data"] = {
    "task": "marketplace.lifecycle.tasks.purge_personal_data",
    "schedule": 3600.0,
}

# --- merchants: API keys (issue 11) ---------------------------------------------------------------
# Per-key request budgets for the merchant API (docs/merchants.md); over them: 429 + Retry-After.
MERCHANT_API_READ_RATE = env.str("MERCHANT_API_READ_RATE", default="600/min")
MERCHANT_API_WRITE_RATE = env.str("MERCHANT_API_WRITE_RATE", default="120/min")

# --- recurring trips (issue 12) -------------------------------------------------------------------
# Occurrences of recurring commutes exist (and are matched) this many days ahead.
RECURRING_TRIPS_HORIZON_DAYS = env.int("RECURRING_TRIPS_HORIZON_DAYS", default=7)
CELERY_BEAT_SCHEDULE["materialize-trip-series"] = {
    "task": "marketplace.lifecycle.tasks.materialize_trip_series",
    "schedule": 3600.0,
}

# --- health (issue 13) ------------------------------------------------------------------------
# /readyz gives each of the database, Redis and the broker this long to answer.
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)

# --- metrics: /metrics for Prometheus (docs/production.md, "Metrics") ----------------------
# A scraper sends "Authorization: Bearer <METRICS_TOKEN>", or scrapes from one of these
# networks directly (not through a proxy). Empty token: networks only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# Celery workers serve their own metrics on this port (0: off), bound to CELERY_METRICS_ADDRESS.
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
CELERY_METRICS_ADDRESS = env.str("CELERY_METRICS_ADDRESS", default="127.0.0.1")

# --- merchants: API (issue 11) -------------------------------------------------------------------
# Idempotency-Key replies are kept this long (task purge_idempotency_records, hourly).
MERCHANT_IDEMPOTENCY_HOURS = env.int("MERCHANT_IDEMPOTENCY_HOURS", default=24)
# Rows per bulk request (JSON list or CSV) and per web upload.
MERCHANT_BULK_MAX_ROWS = env.int("MERCHANT_BULK_MAX_ROWS", default=500)
CELERY_BEAT_SCHEDULE["purge-idempotency-records"] = {
    "task": "marketplace.merchants.tasks.purge_idempotency_records",
    "schedule": 3600.0,
}

# --- outbound webhooks to merchants (issue 11; docs/webhooks.md) ---------------------------------
HOOKS_TIMEOUT_SECONDS = env.float("HOOKS_TIMEOUT_SECONDS", default=10.0)
# Retried with exponential back-off (30 s x 2^n, at most 6 h apart) for this long, then given up.
HOOKS_RETRY_HOURS = env.int("HOOKS_RETRY_HOURS", default=72)
# An endpoint failing this many attempts in a row is disabled and its merchant e-mailed.
HOOKS_DISABLE_AFTER_FAILURES = env.int("HOOKS_DISABLE_AFTER_FAILURES", default=50)
HOOKS_ALLOW_HTTP = env.bool("HOOKS_ALLOW_HTTP", default=False)
HOOKS_ALLOW_LOOPBACK = env.bool("HOOKS_ALLOW_LOOPBACK", default=False)
# A delivery's `delivery.courier_position` events come at most this often (seconds); beat looks
# for moved couriers every HOOKS_POSITION_SCAN_SECONDS.
HOOKS_POSITION_SECONDS = env.int("HOOKS_POSITION_SECONDS", default=20)
HOOKS_POSITION_SCAN_SECONDS = env.float("HOOKS_POSITION_SCAN_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE["publish-courier-positions"] = {
    "task": "marketplace.tracking.tasks.publish_courier_positions",
    "schedule": HOOKS_POSITION_SCAN_SECONDS,
}
CELERY_BEAT_SCHEDULE["retry-webhook-deliveries"] = {
    "task": "marketplace.hooks.tasks.retry_due_deliveries",
    "schedule": 60.0,
}

# --- sandbox (issue 11; docs/merchants.md) --------------------------------------------------------
# The simulated courier of test-mode deliveries: its account, seconds between its steps, and how
# many positions it reports on the way.
SANDBOX_COURIER_EMAIL = env.str("SANDBOX_COURIER_EMAIL", default="sandbox-courier@waypost.invalid")
SANDBOX_STEP_SECONDS = env.int("SANDBOX_STEP_SECONDS", default=10)
SANDBOX_POSITIONS = env.int("SANDBOX_POSITIONS", default=3)
