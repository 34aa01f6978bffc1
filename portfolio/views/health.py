"""``/healthz`` for load balancers and operators: cheap enough to be called every second.

The database is asked one trivial query. The broker is connected to at most once per
``HEALTHZ_BROKER_CHECK_SECONDS`` per process (the answer is remembered in between). Beat
is judged from real heartbeats: the time a worker last *ran* the heartbeat task that beat
sends every few minutes, which proves beat, the broker and a worker all work."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# (checked_at monotonic, ok, error) per process.
_broker_cache: dict[str, tuple[float, bool, str]] = {}


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, ""
    except Exception as exc:  # any failure means "not reachable"
        return False, str(exc)[:200]


def _broker_ok() -> tuple[bool, str]:
    ttl = getattr(settings, "HEALTHZ_BROKER_CHECK_SECONDS", 30)
    cached = _broker_cache.get("broker")
    if cached and time.monotonic() - cached[0] < ttl:
        return cached[1], cached[2]
    from portfolio.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        ok, error = True, ""
    except Exception as exc:
        ok, error = False, str(exc)[:200]
    _broker_cache["broker"] = (time.monotonic(), ok, error)
    return ok, error


def _beat_status() -> dict:
    """When a worker last ran beat's heartbeat task. Stale or never: ``ok`` is false."""
    from people.models import Heartbeat

    try:
        last = Heartbeat.objects.filter(name="beat").values_list("beat_at", flat=True).first()
    except Exception as exc:
        return {"ok": False, "last_heartbeat_at": None, "error": str(exc)[:200]}
    if last is None:
        return {"ok": False, "last_heartbeat_at": None, "age_seconds": None}
    age = int((timezone.now() - last).total_seconds())
    stale_after = getattr(settings, "BEAT_STALE_AFTER_SECONDS", 15 * 60)
    return {"ok": age <= stale_after, "last_heartbeat_at": last.isoformat(), "age_seconds": age}


@never_cache
@require_GET
def healthz(request):
    """Liveness for load balancers: is the database reachable, is the broker reachable."""
    db_ok, db_error = _database_ok()
    broker_ok, broker_error = _broker_ok()
    body = {
        "status": "ok" if db_ok and broker_ok else "degraded",
        "database": {"ok": db_ok, **({"error": db_error} if db_error else {})},
        "broker": {"ok": broker_ok, **({"error": broker_error} if broker_error else {})},
        # Informational: a stale beat does not fail the liveness check.
        "beat": _beat_status() if db_ok else {"ok": False, "last_heartbeat_at": None},
    }
    return JsonResponse(body, status=200 if db_ok else 503)
