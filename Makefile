# Waypost developer commands; `make help` lists them. `make run` and `make test` work on a fresh
# Debian machine: scripts/bootstrap.sh first installs whatever is missing (see docs/setup.md).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY := .venv/bin/python
# Runs a command with the DATABASE_URL that bootstrap chose (var/database_url).
WITH_ENV := scripts/with-env.sh
MANAGE := $(WITH_ENV) $(PY) manage.py
# The bootstrap steps a target needs (all of them: run, test).
NEED_VENV := scripts/bootstrap.sh venv
NEED_DB := scripts/bootstrap.sh packages venv database

# `make bench` wipes and fills this scratch database (its name must contain "bench").
BENCH_DATABASE_URL ?= postgis://postgres@127.0.0.1:5432/waypost_bench
BENCH_ARGS ?=
# Creates the scratch database if it is missing and migrates it (every bench target).
BENCH_DB := scripts/bench-db.sh '$(BENCH_DATABASE_URL)'
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
APP ?=

# Local settings for everything but the tests (override: make shell DJANGO_SETTINGS_MODULE=...).
export DJANGO_SETTINGS_MODULE := config.settings.local
test: export DJANGO_SETTINGS_MODULE := config.settings.test

.PHONY: help run test lint fmt migrate makemigrations check worker beat shell bench db-stop clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# One shell for the whole recipe, so the trap stops the localstripe it started (and only that one)
# when the server stops: scripts/start-localstripe.sh prints its PID only if it started it.
run: ## set up what is missing, start localstripe, load the demo data, serve on http://127.0.0.1:8000
	@scripts/bootstrap.sh
	@stripe_pid="$$(scripts/start-localstripe.sh start http://$(HOST):$(PORT))"; \
	trap 'scripts/start-localstripe.sh stop "$$stripe_pid"; kill $$periodic_pid 2>/dev/null || true' EXIT; \
	$(MANAGE) seed_demo; \
	mkdir -p var/log; $(MANAGE) run_periodic >>var/log/periodic.log 2>&1 & periodic_pid=$$!; \
	echo "==> periodic tasks (offer expiry, transfers, ...): var/log/periodic.log"; \
	echo "==> Waypost: http://$(HOST):$(PORT)/  (demo logins printed above; Ctrl-C stops)"; \
	$(WITH_ENV) .venv/bin/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --lifespan off \
		--ws-per-message-deflate false

test: ## set up (plus Chromium, Redis) and run pytest; e.g. make test PYTEST_ARGS="-x -k quote"
	@WITH_BROWSER=1 WITH_REDIS=1 scripts/bootstrap.sh
	$(WITH_ENV) .venv/bin/pytest $(PYTEST_ARGS)

lint: ## ruff check, ruff format --check, lint-imports (the layers) and mypy
	@$(NEED_VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	$(WITH_ENV) .venv/bin/mypy marketplace config

fmt: ## fix what ruff can, then format
	@$(NEED_VENV)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

migrate: ## apply migrations
	@$(NEED_DB)
	$(MANAGE) migrate

makemigrations: ## make migrations (all apps, or APP=parcels)
	@$(NEED_DB)
	$(MANAGE) makemigrations $(APP)

check: ## manage.py check, and fail if a model change has no migration
	@$(NEED_DB)
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run

worker: ## Celery worker (locally tasks run eagerly unless CELERY_TASK_ALWAYS_EAGER=false and REDIS_URL)
	@$(NEED_DB)
	$(WITH_ENV) .venv/bin/celery -A config worker -l info

beat: ## Celery beat (periodic tasks)
	@$(NEED_DB)
	$(WITH_ENV) .venv/bin/celery -A config beat -l info --schedule var/celerybeat-schedule

shell: ## Django shell
	@$(NEED_DB)
	$(MANAGE) shell

bench: ## matching benchmark on a scratch database (docs/bench.md); e.g. make bench BENCH_ARGS="--sizes 10000"
	@$(NEED_DB)
	@$(BENCH_DB)
	time DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false $(PY) manage.py bench_matching $(BENCH_ARGS)

db-stop: ## stop the private PostgreSQL cluster, if one runs (scripts/private-pg.sh)
	@scripts/private-pg.sh stop

clean: ## delete caches, collected static files, logs and test artifacts (keeps .venv and the data)
	rm -rf .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage .coverage.* test-artifacts \
		var/static var/log var/celerybeat-schedule*
	find . -path ./.venv -prune -o -path ./.git -prune -o -type d -name __pycache__ -prune \
		-exec rm -rf {} +

# `make simulate` empties the scratch database's users, trips and parcels (as `make bench` does).
SIMULATE_ARGS ?=
.PHONY: simulate
simulate: ## one batch solve at 5 000 x 20 000, then a city day: greedy vs batch vs the hindsight bound (docs/simulation.md)
	@scripts/bootstrap.sh packages venv database
	@$(BENCH_DB)
	DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false $(PY) manage.py bench_assignment
	time DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false $(PY) manage.py simulate_day $(SIMULATE_ARGS)

.PHONY: bench-bulk
bench-bulk: ## 500 merchant deliveries: single POSTs vs bulk JSON vs CSV (docs/merchants.md)
	@scripts/bootstrap.sh packages venv database
	@$(BENCH_DB)
	DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false $(PY) manage.py bench_merchant_bulk

.PHONY: bench-webhooks
bench-webhooks: ## outbound webhooks to a loopback receiver vs a bare requests loop (docs/webhooks.md)
	@scripts/bootstrap.sh packages venv database
	@$(BENCH_DB)
	DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false $(PY) manage.py bench_webhooks $(BENCH_HOOKS_ARGS)

# `make bench-api` adds users, parcels and deliveries to the scratch database (name must contain
# "bench"); its uvicorn gets its own Pub/Sub prefix on Redis 14.
BENCH_API_ARGS ?=
.PHONY: bench-api
bench-api: ## parcel list and batch pings under load beside a bare DRF view (uvicorn, aiohttp); e.g. BENCH_API_ARGS="--rounds 3"
	@scripts/bootstrap.sh packages venv database redis
	@$(BENCH_DB)
	DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false REDIS_URL=redis://127.0.0.1:6379/14 \
		$(PY) manage.py bench_api $(BENCH_API_ARGS)

# `make bench-live` adds users and deliveries to the scratch database (name must contain "bench").
# Two uvicorn workers (the box has 2 cores); the Pub/Sub channel names get their own prefix.
BENCH_LIVE_ARGS ?= --workers 2
.PHONY: bench-live
bench-live: ## chat + tracking over real WebSockets (uvicorn, Redis 14); e.g. BENCH_LIVE_ARGS="--workers 1 --seconds 5"
	@scripts/bootstrap.sh packages venv database redis
	@$(BENCH_DB)
	DATABASE_URL='$(BENCH_DATABASE_URL)' DJANGO_DEBUG=false REDIS_URL=redis://127.0.0.1:6379/14 \
		CHANNEL_LAYER_PREFIX=waypost-bench $(PY) manage.py bench_live $(BENCH_LIVE_ARGS)
