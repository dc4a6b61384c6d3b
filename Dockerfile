# syntax=docker/dockerfile:1
# The production image: web (uvicorn, the default command), Celery worker and beat all run from it;
# see docker-compose.yml. Settings come from the environment (config.settings.production).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DJANGO_SETTINGS_MODULE=config.settings.production

# GeoDjango's C libraries: GDAL, GEOS, PROJ (Debian 12 names them with their ABI number).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin libgdal32 libgeos-c1v5 libproj25 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/production.txt

COPY . .

# Static files are collected into the image (var/static, served by WhiteNoise). The settings
# demand a secret, hosts and a database URL even for this; these build-time values are throwaway
# and nothing connects to the database.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only-0123 \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=postgis://build@127.0.0.1:5432/build \
    python manage.py collectstatic --noinput
# The translations (locale/*/LC_MESSAGES/django.po; the .mo files are not committed), compiled
# by Babel, a dependency already: no gettext in the image.
RUN pybabel compile --domain django --directory locale --statistics

# Run as an unprivileged user; uploads (DJANGO_MEDIA_ROOT) go to /data/media, a volume.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home waypost \
    && mkdir -p /data/media \
    && chown waypost:waypost /data/media
ENV DJANGO_MEDIA_ROOT=/data/media
USER waypost

# uvicorn reads these two: worker processes, and which peers may set X-Forwarded-Proto/-For (the
# TLS-terminating reverse proxy in front; "*" suits a port that only that proxy can reach).
ENV WEB_CONCURRENCY=2 \
    FORWARDED_ALLOW_IPS="*"
EXPOSE 8000
# Liveness: the process answers (no I/O); docker-compose.yml checks /readyz (dependencies).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# No per-message deflate on the WebSockets: our frames are a few hundred bytes of JSON, and
# compressing each costs CPU and a zlib context per socket for next to no saving.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--lifespan", "off", "--proxy-headers", "--ws-per-message-deflate", "false"]
