#!/usr/bin/env bash
# Boots the app on the embedded PostgreSQL and the filesystem broker (no servers),
# migrates, checks that /healthz answers 200, and shuts everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DATABASE_URL:-}" ] || [ -n "${CELERY_BROKER_URL:-}" ]; then
  echo "unset DATABASE_URL and CELERY_BROKER_URL to test the embedded default" >&2
  exit 2
fi
export VAR_DIR="$(mktemp -d /tmp/ai-portfolio-smoke.XXXXXX)"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$VAR_DIR"
}
trap cleanup EXIT

.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/gunicorn portfolio.wsgi --bind "127.0.0.1:$port" --workers 1 --log-level warning &
server_pid=$!
for _ in $(seq 1 60); do
  if body=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null); then
    echo "healthz: $body"
    echo "$body" | grep -q '"database": {"ok": true}' || { echo "database not ok" >&2; exit 1; }
    echo "embedded default: OK"
    exit 0
  fi
  sleep 1
done
echo "the app did not answer /healthz within 60 s" >&2
exit 1
