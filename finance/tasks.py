"""Background work for finance: the spend import of a large file, with progress."""

from __future__ import annotations

import threading
import time

from celery import shared_task
from django.db import connection

from people.jobs import job_failed, job_progress, job_started, job_succeeded
from people.models import Job

SPEND_IMPORT = "spend_import"


def _report(job: Job, done: int, message: str) -> None:
    """Progress through a connection of its own: the import runs in one transaction (its
    writes are invisible until it commits) and its connection may be busy with COPY, so
    progress written on it would neither show nor, during COPY, even be sent."""

    def write() -> None:
        try:
            job_progress(job, done=done, total=100, message=message)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(timeout=10)


@shared_task(acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def spend_import_task(job_id: int) -> None:
    """Run the import a ``Job`` describes (``params``: source, keep_valid_rows, dry_run,
    filename; ``input_file``: the upload) as the person who asked for it.

    Idempotent: a finished job is left alone; a job re-delivered after a crash runs
    again, which is safe because postings are identified by (source, reference).
    """
    from finance.services import spend_import

    job = Job.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        return
    params = job.params or {}
    job_started(job, total=100, message="Loading the file")

    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        if time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        percent = int(60 * done / total) if total else 0
        _report(job, min(percent, 60), message)

    def phase(name: str) -> None:
        messages = {"validate": (65, "Checking the rows"), "write": (80, "Writing the ledger")}
        done, message = messages.get(name, (60, name))
        _report(job, done, message)

    try:
        with job.input_file.open("rb") as fh:
            result = spend_import(
                acting_user=job.requested_by,
                file=fh,
                filename=params.get("filename") or job.input_file.name.rsplit("/", 1)[-1],
                source=params.get("source", ""),
                keep_valid_rows=bool(params.get("keep_valid_rows")),
                dry_run=bool(params.get("dry_run")),
                progress=progress,
                phase=phase,
            )
    except Exception as exc:
        job_failed(job, message=f"The import stopped: {exc}")
        raise
    report = result.report()
    batch = result.batch
    summary = (
        f"{batch.rows_total} rows: {batch.created_count} created, {batch.updated_count} "
        f"updated, {batch.unchanged_count} unchanged, {batch.rejected_count} rejected"
    )
    if batch.dry_run and batch.rows_total:
        # A check (the preview of a large upload): its outcome is the report.
        job_succeeded(job, message=f"Checked; nothing written. {summary}", report=report)
    elif batch.status == batch.Status.FAILED:
        job_failed(job, message=f"Nothing was written. {summary}", report=report)
    else:
        job_succeeded(job, message=summary, report=report)


@shared_task(
    name="finance.tasks.reap_abandoned_import_batches",
    ignore_result=True,
    time_limit=120,
    soft_time_limit=100,
)
def reap_abandoned_import_batches() -> int:
    """Import batches left "running" by a lost worker end as failed (scheduled by beat)."""
    from datetime import timedelta

    from django.conf import settings

    from finance.services import import_batches_reap_abandoned

    return import_batches_reap_abandoned(
        older_than=timedelta(minutes=settings.JOBS_ABANDONED_AFTER_MINUTES)
    )


from finance.focus.tasks import focus_import_task, focus_reallocate_task  # noqa: E402, F401
