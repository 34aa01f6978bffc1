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
