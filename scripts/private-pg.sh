#!/usr/bin/env bash
# The private PostgreSQL cluster that scripts/bootstrap.sh starts when no server answers on
# 127.0.0.1:5432 (data in var/pgdata, port 5433 or WAYPOST_PG_PORT).
#   scripts/private-pg.sh start|stop|status|destroy
# destroy stops it and deletes its data (and var/database_url, so the next bootstrap decides anew).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
  start)
    private_pg_start
    say "private cluster: running on 127.0.0.1:$(private_pg_port) ($(private_pg_home))"
    ;;
  stop)
    private_pg_stop
    ;;
  status)
    if private_pg_running; then
      say "private cluster: running on 127.0.0.1:$(private_pg_port) ($(private_pg_home))"
    elif [[ -e $PRIVATE_PG_DIR ]]; then
      say "private cluster: stopped ($(private_pg_home))"
    else
      say "private cluster: none (var/pgdata does not exist)"
    fi
    ;;
  destroy)
    if [[ -e $PRIVATE_PG_DIR ]]; then
      private_pg_stop
      rm -rf "$(private_pg_home)" "$PRIVATE_PG_DIR" "$VAR/database_url"
      say "private cluster: deleted"
    else
      say "private cluster: none"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|destroy" >&2
    exit 2
    ;;
esac
