"""The test settings, with the server's errors logged with their tracebacks (to its log file):
what the fault tests' uvicorn runs, so a failure during a fault can be told from a bug."""

from config.settings.test import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
