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
    }
    return JsonResponse(body, status=200 if db_ok else 503)
