# shellcheck shell=bash
# shellcheck disable=SC2034  # some variables here are used only by the scripts that source it
# Shared by the scripts in this folder: `source "$(dirname "$0")/lib.sh"`. Defines paths and small
# helpers, the database URL bookkeeping and the private PostgreSQL cluster. Runs nothing by itself.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
LOG="$VAR/log/bootstrap.log"

# PostgreSQL major version of the OS's server binaries (15 on Debian 12) and where they live.
if [[ -z ${PG_MAJOR:-} ]]; then
  PG_MAJOR="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -n 1)"
  PG_MAJOR="${PG_MAJOR:-15}"
fi
PG_BIN="${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}"

# The private cluster (used only when no DATABASE_URL is given and nothing answers on
# 127.0.0.1:$WAYPOST_PG_PROBE_PORT). WAYPOST_PG_PROBE_PORT exists to test that path.
PG_PROBE_PORT="${WAYPOST_PG_PROBE_PORT:-5432}"
PRIVATE_PG_PORT="${WAYPOST_PG_PORT:-5433}"
PRIVATE_PG_DIR="$VAR/pgdata" # data/, postgres.log; a symlink into /var/tmp when run as root

say() { printf '==> %s\n' "$*"; }
warn() { printf '!!  %s\n' "$*" >&2; }
die() {
  warn "$@"
  exit 1
}
is_root() { [[ $(id -u) -eq 0 ]]; }

# Run a command with its output appended to $LOG; on failure show the end of the log.
# (Only for commands, not for shell functions: `set -e` is off inside an `if`.)
quietly() {
  mkdir -p "$(dirname "$LOG")"
  printf '\n$ %s\n' "$*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    warn "failed: $*"
    tail -n 25 "$LOG" | sed 's/^/    /' >&2
    warn "full log: $LOG"
    return 1
  fi
}

# A URL with its password hidden, for printing.
mask() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# The value of NAME in the project's .env (which the Django settings read too), or nothing.
dotenv_get() {
  [[ -f $ROOT/.env ]] || return 0
  sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*//p" "$ROOT/.env" |
    tail -n 1 | sed -E "s/^(['\"])(.*)\1[[:space:]]*$/\2/"
}

# Export the DATABASE_URL that scripts/bootstrap.sh chose (var/database_url), unless one is set in
# the environment or in .env already.
load_database_url() {
  if [[ -z ${DATABASE_URL:-} && -z $(dotenv_get DATABASE_URL) && -s $VAR/database_url ]]; then
    DATABASE_URL="$(<"$VAR/database_url")"
    export DATABASE_URL
  fi
}

# --- apt ------------------------------------------------------------------------------------------
dpkg_installed() {
  # shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell expansion
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  quietly apt-get update
  quietly apt-get install -y "$@"
}

# --- PostgreSQL -----------------------------------------------------------------------------------
pg_tool() { # pg_tool NAME ARGS...: the OS server's binary, or the one on PATH
  if [[ -x $PG_BIN/$1 ]]; then "$PG_BIN/$1" "${@:2}"; else "$@"; fi
}
pg_ready() { pg_tool pg_isready -q -t 3 -h "$1" -p "$2"; }

# Run as the PostgreSQL owner: initdb and postgres refuse to run as root.
as_pg() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

private_pg_home() { readlink -f "$PRIVATE_PG_DIR"; }
private_pg_running() {
  [[ -e $PRIVATE_PG_DIR ]] && as_pg "$PG_BIN/pg_ctl" -D "$(private_pg_home)/data" status >/dev/null 2>&1
}
private_pg_port() { sed -n 4p "$(private_pg_home)/data/postmaster.pid"; }

private_pg_init() {
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL server binaries not found in $PG_BIN (Debian: apt-get install postgresql-$PG_MAJOR)"
  if [[ ! -e $PRIVATE_PG_DIR ]]; then
    mkdir -p "$VAR"
    if is_root; then
      # The checkout may sit where the postgres user can't go (e.g. /root), so the cluster lives
      # in /var/tmp, one per checkout, and var/pgdata points at it.
      id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the private cluster as"
      local real
      real="/var/tmp/waypost-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
      mkdir -p "$real"
      chown postgres: "$real"
      chmod 700 "$real"
      ln -sfn "$real" "$PRIVATE_PG_DIR"
    else
      mkdir -m 700 "$PRIVATE_PG_DIR"
    fi
  fi
  local home
  home="$(private_pg_home)"
  [[ -s $home/data/PG_VERSION ]] && return 0
  quietly as_pg "$PG_BIN/initdb" -D "$home/data" -U postgres --auth=trust -E UTF8 --locale=C
  cat >>"$home/data/postgresql.conf" <<'EOF'

# --- Waypost private development cluster (scripts/lib.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''    # TCP only: no socket path to own or to keep short
fsync = off                     # throwaway development data: speed over crash safety
synchronous_commit = off
full_page_writes = off
EOF
}

private_pg_start() {
  private_pg_init
  private_pg_running && return 0
  if pg_ready 127.0.0.1 "$PRIVATE_PG_PORT"; then
    die "another server already answers on 127.0.0.1:$PRIVATE_PG_PORT; pick a free port with WAYPOST_PG_PORT=..."
  fi
  local home
  home="$(private_pg_home)"
  quietly as_pg "$PG_BIN/pg_ctl" -D "$home/data" -l "$home/postgres.log" \
    -o "-p $PRIVATE_PG_PORT" -w -t 60 start
}

private_pg_stop() {
  if private_pg_running; then
    quietly as_pg "$PG_BIN/pg_ctl" -D "$(private_pg_home)/data" -m fast -w stop
    say "private cluster: stopped"
  else
    say "private cluster: not running"
  fi
}

# Create the database named in a postgis:// URL if missing, and the extensions it needs.
ensure_database() {
  local rest="${1#*://}" query="" authority db
  if [[ $rest == *\?* ]]; then
    query="?${rest#*\?}"
    rest="${rest%%\?*}"
  fi
  authority="${rest%%/*}"
  db="${rest#*/}"
  [[ $rest == */* && -n $db ]] || die "no database name in $(mask "$1")"
  local admin="postgresql://$authority/postgres$query" target="postgresql://$authority/$db$query"
  if [[ $(pg_tool psql "$admin" -XtAc "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
    quietly pg_tool psql "$admin" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\""
  fi
  quietly pg_tool psql "$target" -Xq -v ON_ERROR_STOP=1 \
    -c 'CREATE EXTENSION IF NOT EXISTS postgis' -c 'CREATE EXTENSION IF NOT EXISTS btree_gist'
}

# --- Redis ----------------------------------------------------------------------------------------
redis_ping() {
  "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping()' \
    "$1" >/dev/null 2>&1
}
