from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, ""
    except Exception as exc:  # any failure means "not reachable"
        return False, str(exc)[:200]


def _broker_ok() -> tuple[bool, str]:
    from portfolio.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, ""
    except Exception as exc:
        return False, str(exc)[:200]


def _beat_status() -> dict:
    """When beat last sent a periodic task (django-celery-beat's ``last_run_at``; the
    heartbeat schedule sends one every few minutes). Stale or never: ``ok`` is false."""
    from django.conf import settings
    from django.db.models import Max
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    try:
        last = PeriodicTask.objects.aggregate(last=Max("last_run_at"))["last"]
    except Exception as exc:
        return {"ok": False, "last_run_at": None, "error": str(exc)[:200]}
    if last is None:
        return {"ok": False, "last_run_at": None, "age_seconds": None}
    age = int((timezone.now() - last).total_seconds())
    stale_after = getattr(settings, "BEAT_STALE_AFTER_SECONDS", 15 * 60)
    return {"ok": age <= stale_after, "last_run_at": last.isoformat(), "age_seconds": age}


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
        "beat": _beat_status() if db_ok else {"ok": False, "last_run_at": None},
    }
    return JsonResponse(body, status=200 if db_ok else 503)
