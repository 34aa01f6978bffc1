#!/usr/bin/env bash
# Boots the app as `make run` does (manage.py serve: gunicorn with DEBUG off, a Celery
# worker and beat) on the embedded PostgreSQL and the filesystem broker (no servers),
# checks that /healthz answers 200 and that a missing page is the app's own 404 (no
# debug page), then stops everything with the signal Ctrl-C's SIGTERM sibling.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DATABASE_URL:-}" ] || [ -n "${CELERY_BROKER_URL:-}" ]; then
  echo "unset DATABASE_URL and CELERY_BROKER_URL to test the embedded default" >&2
  exit 2
fi
export VAR_DIR="$(mktemp -d /tmp/ai-portfolio-smoke.XXXXXX)"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$VAR_DIR"
}
trap cleanup EXIT

.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py serve --addr "127.0.0.1:$port" --concurrency 1 > "$VAR_DIR/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 90); do
  if body=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null); then
    echo "healthz: $body"
    echo "$body" | grep -q '"database": {"ok": true}' || { echo "database not ok" >&2; exit 1; }
    missing=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/accounts/no-such-page/")
    page=$(curl -sS "http://127.0.0.1:$port/accounts/no-such-page/")
    [ "$missing" = 404 ] || { echo "a missing page answered $missing" >&2; exit 1; }
    if echo "$page" | grep -q "URLconf"; then echo "DEBUG is on under serve" >&2; exit 1; fi
    echo "$page" | grep -q "We could not find that page" || { echo "no friendly 404" >&2; exit 1; }
    echo "embedded default (gunicorn, DEBUG off): OK"
    exit 0
  fi
  sleep 1
done
echo "the app did not answer /healthz within 90 s" >&2
tail -40 "$VAR_DIR/serve.log" >&2
exit 1
