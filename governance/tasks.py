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
