"""FOCUS background work: the import of a file and a re-allocation, each a ``Job`` with
progress, run as the person who asked for it."""

from __future__ import annotations

import time

from celery import shared_task

from people.jobs import job_failed, job_started, job_succeeded
from people.models import Job

FOCUS_IMPORT = "focus_import"
FOCUS_REALLOCATE = "focus_reallocate"


def _report(job: Job, done: int, message: str) -> None:
    from finance.tasks import _report as report  # the spend import's progress writer

    report(job, done, message)


def _job(job_id: int) -> Job | None:
    job = Job.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        return None
    return job


@shared_task(acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def focus_import_task(job_id: int) -> None:
    """Import the upload a ``Job`` holds (``params``: filename, focus_version). Safe to
    run again after a crash: a billing period's rows are replaced, never added twice."""
    from finance.focus.services import focus_import

    job = _job(job_id)
    if job is None:
        return
    params = job.params or {}
    job_started(job, total=100, message="Loading the file")
    last = [0.0]

    def progress(done: int, total: int, message: str) -> None:
        if time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        _report(job, min(int(60 * done / total) if total else 0, 60), message)

    def phase(name: str) -> None:
        done, message = {
            "validate": (65, "Checking the rows against the FOCUS specification"),
            "write": (80, "Replacing the billing periods and allocating"),
        }.get(name, (60, name))
        _report(job, done, message)

    try:
        with job.input_file.open("rb") as fh:
            result = focus_import(
                acting_user=job.requested_by,
                file=fh,
                filename=params.get("filename") or job.input_file.name.rsplit("/", 1)[-1],
                focus_version=params.get("focus_version", ""),
                progress=progress,
                phase=phase,
            )
    except Exception as exc:
        job_failed(job, message=f"The import stopped: {exc}")
        raise
    report = result.report()
    if result.ok:
        rows = report["rows"]
        job_succeeded(
            job,
            report=report,
            message=f"{result.record.rows_total} rows: {rows['added']} added, {rows['removed']} "
            f"removed, {rows['changed']} changed, {rows['unchanged']} unchanged",
        )
    else:
        first = result.record.errors[0]["reason"] if result.record.errors else ""
        job_failed(job, message=f"Nothing was written. {first}"[:500], report=report)


@shared_task(acks_late=True, time_limit=60 * 60, soft_time_limit=55 * 60)
def focus_reallocate_task(job_id: int) -> None:
    """Re-allocate every FOCUS line by the current rules (after a rule or setting change)."""
    from finance.focus.services import allocation_run

    job = _job(job_id)
    if job is None:
        return
    job_started(job, total=100, message="Matching the lines against the rules")
    try:
        result = allocation_run(
            acting_user=job.requested_by, progress=lambda m: _report(job, 50, m)
        )
    except Exception as exc:
        job_failed(job, message=f"The re-allocation stopped: {exc}")
        raise
    postings = result["postings"]
    job_succeeded(
        job,
        report=result,
        message=f"{result['lines_changed']} lines re-allocated; postings: "
        f"{postings['created']} created, {postings['updated']} updated, "
        f"{postings['deleted']} removed",
    )
