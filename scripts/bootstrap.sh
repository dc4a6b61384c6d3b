#!/usr/bin/env bash
# Make this checkout runnable, installing only what is missing (safe to run again and again):
#   packages  OS packages: PostGIS and GDAL (and Chromium with WITH_BROWSER=1), via apt as root
#   venv      .venv with requirements/dev.txt (re-installed only when that file changes)
#   database  a PostgreSQL to use (see below), its database, and the postgis/btree_gist extensions
#   redis     (with WITH_REDIS=1) a Redis for the tests, started on 127.0.0.1 if none answers
#   migrate   manage.py migrate, local settings
#   messages  compile the translations (locale/*/LC_MESSAGES/django.po -> .mo, not committed)
#
# Usage: scripts/bootstrap.sh [STEP...]   (no steps: all of them, in the order above)
#
# Which database: $DATABASE_URL if set, else DATABASE_URL from .env, else the server on
# 127.0.0.1:5432, else a private cluster in var/pgdata on 127.0.0.1:5433 (WAYPOST_PG_PORT),
# started with the OS's PostgreSQL binaries. The choice is written to var/database_url, which
# scripts/with-env.sh reads for later commands. WAYPOST_PG_PROBE_PORT=5499 (any unused port)
# pretends nothing runs on 5432, to exercise the private cluster.
#
# The command output of each step goes to var/log/bootstrap.log; it is shown when a step fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step_packages() {
  if ! command -v dpkg-query >/dev/null; then
    say "packages: not a Debian system; make sure PostGIS, GDAL (and Chromium for tests) are installed"
    return 0
  fi
  # gettext: msgfmt compiles the translations, xgettext (makemessages) checks them in the tests.
  local wanted=("postgresql-$PG_MAJOR-postgis-3" gdal-bin gettext) missing=() pkg
  if [[ ${WITH_BROWSER:-0} == 1 ]]; then wanted+=(chromium); fi
  for pkg in "${wanted[@]}"; do
    dpkg_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "packages: ${wanted[*]} installed"
    return 0
  fi
  if ! is_root; then
    die "packages: missing ${missing[*]}. Install them, then run this again:
    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  say "packages: installing ${missing[*]} (apt-get, about half a minute)"
  apt_install "${missing[@]}"
}

step_venv() {
  local req=requirements/dev.txt python stamp
  stamp="$VENV/.installed-$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -e $PY ]] && ! "$PY" -c '' 2>/dev/null; then
    say "venv: .venv is broken (its Python is gone); recreating it"
    rm -rf "$VENV"
  fi
  if [[ ! -e $PY ]]; then
    python="$(find_python)"
    quietly "$python" -m venv "$VENV"
  fi
  if [[ -e $stamp ]]; then
    say "venv: .venv matches $req"
    return 0
  fi
  say "venv: installing $req into .venv (about half a minute)"
  quietly "$PY" -m pip install --disable-pip-version-check -r "$req"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
}

find_python() { # a Python 3.11 (pyproject.toml asks for 3.11)
  local candidate
  for candidate in ${PYTHON:-} python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  die "venv: no Python 3.11 found; install it or point PYTHON at one"
}

step_database() {
  local url="${DATABASE_URL:-}" origin="DATABASE_URL"
  if [[ -z $url ]]; then
    url="$(dotenv_get DATABASE_URL)"
    origin="DATABASE_URL in .env"
  fi
  if [[ -n $url ]]; then
    pg_tool pg_isready -q -t 5 -d "postgresql://${url#*://}" ||
      die "database: $origin ($(mask "$url")) does not answer"
  elif pg_ready 127.0.0.1 "$PG_PROBE_PORT"; then
    url="postgis://postgres@127.0.0.1:$PG_PROBE_PORT/waypost"
  else
    say "database: nothing answers on 127.0.0.1:$PG_PROBE_PORT; using the private cluster in var/pgdata"
    private_pg_start
    url="postgis://postgres@127.0.0.1:$(private_pg_port)/waypost"
  fi
  ensure_database "$url"
  export DATABASE_URL="$url"
  printf '%s\n' "$url" >"$VAR/database_url"
  say "database: $(mask "$url") (postgis, btree_gist)"
}

step_redis() {
  [[ -x $PY ]] || die "redis: run the venv step first"
  local url="${REDIS_URL:-$(dotenv_get REDIS_URL)}"
  url="${url:-redis://127.0.0.1:6379/15}" # the test settings' default
  if redis_ping "$url"; then
    say "redis: $(mask "$url") answers"
    return 0
  fi
  local hostport="${url#*://}" host port=6379
  hostport="${hostport##*@}"
  hostport="${hostport%%/*}"
  host="${hostport%:*}"
  if [[ $hostport == *:* ]]; then port="${hostport##*:}"; fi
  if [[ $host != 127.0.0.1 && $host != localhost ]]; then
    die "redis: nothing answers at $(mask "$url") (REDIS_URL)"
  fi
  if ! is_root; then
    die "redis: nothing answers at $(mask "$url"). Start one (Debian: sudo apt-get install -y redis-server):
    redis-server --daemonize yes --bind 127.0.0.1 --port $port --save '' --appendonly no"
  fi
  if ! command -v redis-server >/dev/null; then
    say "redis: installing redis-server"
    apt_install redis-server
  fi
  if ! redis_ping "$url"; then # the package may have started one already
    say "redis: starting redis-server on 127.0.0.1:$port"
    quietly redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir /tmp --logfile "$VAR/log/redis.log"
    local tries=0
    until redis_ping "$url"; do
      ((++tries < 20)) || die "redis: started, but nothing answers at $(mask "$url") (var/log/redis.log)"
      sleep 0.25
    done
  fi
}

step_migrate() {
  load_database_url
  say "migrate: $(mask "${DATABASE_URL:-default DATABASE_URL}")"
  DJANGO_SETTINGS_MODULE=config.settings.local quietly "$PY" manage.py migrate --noinput
}

step_messages() {
  [[ -x $PY ]] || die "messages: run the venv step first"
  command -v msgfmt >/dev/null || die "messages: msgfmt is missing. Install gettext, then run this again:
    sudo apt-get update && sudo apt-get install -y gettext"
  say "messages: compiling locale/*/LC_MESSAGES/django.po"
  DJANGO_SETTINGS_MODULE=config.settings.local quietly "$PY" manage.py compilemessages \
    --ignore=.venv --ignore=var --ignore=.git --ignore=node_modules
}

steps=("$@")
if ((${#steps[@]} == 0)); then
  steps=(packages venv database migrate messages)
  if [[ ${WITH_REDIS:-0} == 1 ]]; then steps=(packages venv database redis migrate messages); fi
fi
mkdir -p "$VAR/log"
: >"$LOG"
for step in "${steps[@]}"; do
  declare -F "step_$step" >/dev/null || die "unknown step '$step' (packages venv database redis migrate messages)"
  "step_$step"
done
say "bootstrap: ${steps[*]}: done in ${SECONDS}s"
