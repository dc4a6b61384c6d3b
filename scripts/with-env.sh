#!/usr/bin/env bash
# Run a command with the DATABASE_URL that scripts/bootstrap.sh chose (var/database_url), unless
# DATABASE_URL is set in the environment or in .env. The Makefile wraps every Django command in it.
#   scripts/with-env.sh .venv/bin/python manage.py shell
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
load_database_url
exec "$@"
