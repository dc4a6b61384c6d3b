#!/usr/bin/env bash
# localstripe for `make run`: a fake of the Stripe API with a stand-in Stripe.js, on loopback only
# (scripts/run_localstripe.py), where the local settings point STRIPE_API_BASE and STRIPE_JS_URL.
#
#   scripts/start-localstripe.sh start [SITE_URL]
#       Start it in the background unless something already listens on STRIPE_API_BASE's port,
#       then register our platform webhook with it (SITE_URL/webhooks/stripe/, signed with
#       settings.STRIPE_WEBHOOK_SECRET). Its objects are kept in var/localstripe.pickle across
#       restarts. Prints the PID on stdout if it started one (the caller
#       stops it with `stop PID`), nothing if it found one running. Log: var/log/localstripe.log.
#   scripts/start-localstripe.sh stop PID
#       Stop the localstripe that `start` started (only that process, by its id).
#
# With STRIPE_API_BASE pointing anywhere but loopback (a real Stripe test account) it does nothing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
load_database_url
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
PID_FILE="$VAR/localstripe.pid"
LS_LOG="$VAR/log/localstripe.log"
EVENTS='["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"]'

# "host port base secret" from the Django settings (which read .env and the environment).
read_settings() {
  "$PY" - <<'EOF'
from urllib.parse import urlsplit

from django.conf import settings

url = urlsplit(settings.STRIPE_API_BASE)
port = url.port or (443 if url.scheme == "https" else 80)
print(url.hostname, port, settings.STRIPE_API_BASE.rstrip("/"), settings.STRIPE_WEBHOOK_SECRET)
EOF
}

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

is_localstripe() { # is_localstripe PID: is that process our runner?
  [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'run_localstripe\.py'
}

register_webhook() { # register_webhook BASE URL SECRET
  "$PY" - "$@" "$EVENTS" <<'EOF'
import json
import sys
import urllib.request

base, url, secret, events = sys.argv[1:]
body = json.dumps({"url": url, "secret": secret, "events": json.loads(events)}).encode()
request = urllib.request.Request(
    f"{base}/_config/webhooks/waypost",
    data=body,
    method="POST",
    headers={"Content-Type": "application/json"},
)
urllib.request.urlopen(request, timeout=5).read()
EOF
}

launch() { # launch HOST PORT: start it, wait until it listens; print its PID
  local pid attempt
  mkdir -p "$(dirname "$LS_LOG")"
  # A few attempts, in case the port is briefly held by a localstripe that is stopping.
  for attempt in 1 2 3; do
    # Its own session: Ctrl-C on `make run` does not reach it; the caller's trap stops it.
    setsid "$PY" scripts/run_localstripe.py "$2" --state "$VAR/localstripe.pickle" >>"$LS_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    for _ in $(seq 100); do
      if listening "$1" "$2"; then
        echo "$pid"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    warn "localstripe: attempt $attempt did not start"
    sleep 0.5
  done
  return 1
}

start() {
  local site="${1:-http://127.0.0.1:8000}" host port base secret pid
  read -r host port base secret < <(read_settings)
  if [[ $host != 127.0.0.1 && $host != localhost ]]; then
    say "localstripe: not needed, STRIPE_API_BASE is $base" >&2
    return 0
  fi
  if listening "$host" "$port"; then
    say "localstripe: already listening on $host:$port (left running on exit)" >&2
  else
    pid="$(launch "$host" "$port")" || die "localstripe: did not start; see $LS_LOG"
    say "localstripe: started on $host:$port (pid $pid, log var/log/localstripe.log)" >&2
    echo "$pid"
  fi
  register_webhook "$base" "${site%/}/webhooks/stripe/" "$secret" ||
    die "localstripe: could not register the webhook at $base/_config/webhooks/waypost"
  say "localstripe: webhook -> ${site%/}/webhooks/stripe/" >&2
}

stop() {
  local pid="${1:-}"
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null && is_localstripe "$pid"; then
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    say "localstripe: stopped (pid $pid)"
  fi
  if [[ -f $PID_FILE && $(<"$PID_FILE") == "$pid" ]]; then rm -f "$PID_FILE"; fi
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: $0 start [SITE_URL] | stop PID" ;;
esac
