"""Celery tasks of the governance app. Tasks take ids, fetch, call a service, and exit
quietly if the row is gone."""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True, acks_late=True, max_retries=0, name="governance.inventory_import")
def inventory_import_task(self, job_id: int) -> None:
    """Run an uploaded inventory import (or its dry run) for a ``Job``: progress on the
    job, the report on success, the reason on failure. Re-running a finished job does
    nothing; re-running a failed one re-imports, which the importer makes idempotent."""
    from governance.inventory.jobs import run_inventory_job

    run_inventory_job(job_id)


@shared_task(bind=True, acks_late=True, max_retries=3, name="governance.refresh_gate_checklists")
def refresh_gate_checklists_task(self, review_ids: list[int] | None = None) -> int:
    """Recompute the stored checklist of open gate reviews (all, or the given ids) so the
    "blocked at a gate" lists reflect records added since. Idempotent; a review decided
    or gone in the meantime is skipped."""
    from django.core.exceptions import ValidationError

    from governance.models import GateReview
    from governance.services import gate_checklist_refresh

    qs = GateReview.objects.filter(status=GateReview.Status.OPEN)
    if review_ids is not None:
        qs = qs.filter(pk__in=review_ids)
    done = 0
    for review in qs.only("pk").iterator():
        try:
            gate_checklist_refresh(review=review)
        except (ValidationError, GateReview.DoesNotExist):
            continue
        done += 1
    return done


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=3,
    default_retry_delay=60,
    name="governance.stall_decisions_chase",
)
def stall_decisions_chase_task(self, today: str | None = None) -> dict:
    """Daily: remind the deciders of stall reviews nearing their deadline and escalate
    overdue ones (accountable executive, then PMO). Idempotent: each step is recorded on
    the review in the same transaction as its notifications."""
    import datetime as dt

    from governance.services import stall_decisions_chase

    day = dt.date.fromisoformat(today) if today else None
    result = stall_decisions_chase(today=day)
    return {
        "reminded": len(result.reminded),
        "to_executive": len(result.to_executive),
        "to_pmo": len(result.to_pmo),
        "notifications": result.notifications,
    }


@shared_task(bind=True, acks_late=True, max_retries=3, name="governance.escalate_incidents")
def escalate_incidents_task(self) -> dict:
    """Severe incidents not acknowledged within their severity's window go one level up
    their escalation path (beat, every 15 minutes). Idempotent."""
    from governance.services import incidents_escalate

    return incidents_escalate()
