#!/usr/bin/env bash
# Create the benchmarks' scratch database if it is missing, then migrate it.
#   scripts/bench-db.sh postgis://postgres@127.0.0.1:5432/waypost_bench
set -euo pipefail
url="$1"
pg="postgresql:${url#*:}"
name="${pg##*/}"
if ! psql "${pg%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
  echo "==> creating the scratch database $name"
  psql "${pg%/*}/postgres" -qc "CREATE DATABASE \"$name\""
fi
DATABASE_URL="$url" DJANGO_DEBUG=false .venv/bin/python manage.py migrate --verbosity 0
