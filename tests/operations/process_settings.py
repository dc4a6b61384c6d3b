"""Settings of the web and worker processes that the operations tests start
(tests/operations/processes.py): the test settings, with two things they fix for the test
process read from the environment instead. Whether tasks run eagerly (the web processes must
queue them to the broker, as in production), and the default queue, so that runs sharing a
broker (another test, another checkout) never take each other's tasks."""

from config.settings.base import env
from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
