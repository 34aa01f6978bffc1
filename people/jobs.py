"""Progress and outcome of long work (imports, exports, recomputations).

A view creates a ``Job`` and enqueues a task with its id on commit; the task reports
progress here; the page at ``people:job_detail`` polls ``people:job_status`` (htmx)
and offers ``result_file`` for download when the job succeeds.

Progress writes are throttled (at most one UPDATE every ``_MIN_INTERVAL`` seconds) and
use ``update()`` on the row, so a tight import loop pays almost nothing for them.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from people.models import Job

_MIN_INTERVAL = 0.5
_last_write: dict[int, float] = {}


def job_create(
    *,
    kind: str,
    requested_by,
    params: dict[str, Any] | None = None,
    input_file: tuple[str, bytes] | None = None,
) -> Job:
    job = Job(kind=kind, requested_by=requested_by, params=params or {})
    if input_file is not None:
        name, content = input_file
        job.input_file.save(name, ContentFile(content), save=False)
    job.save()
    return job


def job_enqueue(job: Job, task, *args) -> None:
    """Send ``task(job.pk, *args)`` once the surrounding transaction commits."""

    def send():
        result = task.delay(job.pk, *args)
        Job.objects.filter(pk=job.pk).update(celery_task_id=result.id or "")

    transaction.on_commit(send)


def job_started(job: Job, *, total: int = 0, message: str = "") -> None:
    job.status = Job.Status.RUNNING
    job.started_at = timezone.now()
    job.progress_total = total
    job.progress_done = 0
    job.message = message
    job.save(update_fields=["status", "started_at", "progress_total", "progress_done", "message"])


def job_progress(job: Job, *, done: int, total: int | None = None, message: str = "") -> None:
    """Record progress; cheap to call on every row."""
    now = time.monotonic()
    if now - _last_write.get(job.pk, 0.0) < _MIN_INTERVAL and (total is None or done < total):
        return
    _last_write[job.pk] = now
    fields: dict[str, Any] = {"progress_done": done}
    if total is not None:
        fields["progress_total"] = total
    if message:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job.pk).update(**fields)


def job_succeeded(
    job: Job,
    *,
    report: dict[str, Any] | None = None,
    message: str = "",
    result_file: tuple[str, bytes] | None = None,
) -> None:
    job.refresh_from_db(fields=["progress_total"])
    job.status = Job.Status.SUCCEEDED
    job.finished_at = timezone.now()
    job.progress_done = job.progress_total
    job.message = message[:500]
    if report is not None:
        job.report = report
    if result_file is not None:
        name, content = result_file
        job.result_file.save(name, ContentFile(content), save=False)
    job.save()
    _last_write.pop(job.pk, None)


def job_failed(job: Job, *, message: str, report: dict[str, Any] | None = None) -> None:
    job.status = Job.Status.FAILED
    job.finished_at = timezone.now()
    job.message = message[:500]
    if report is not None:
        job.report = report
    job.save(update_fields=["status", "finished_at", "message", "report"])
    _last_write.pop(job.pk, None)


ABANDONED_MESSAGE = (
    "This job stopped without finishing (its worker was lost or killed). "
    "Nothing more will happen: start it again."
)


def jobs_reap_abandoned(*, older_than: timedelta) -> int:
    """Mark jobs that cannot still be running as failed; returns how many.

    A job is abandoned when it has been "running" for longer than ``older_than`` (longer
    than any task's time limit, after which Celery kills the task), or was handed to the
    broker that long ago and never started. Jobs nobody enqueued (a preview waiting for
    its "Import now") are left alone. Run by beat (``people.tasks.reap_abandoned_jobs``)."""
    now = timezone.now()
    cutoff = now - older_than
    running = Q(status=Job.Status.RUNNING) & (Q(started_at__lt=cutoff) | Q(started_at__isnull=True))
    queued = Q(status=Job.Status.PENDING) & ~Q(celery_task_id="") & Q(created_at__lt=cutoff)
    return (
        Job.objects.filter(running | queued)
        .filter(created_at__lt=cutoff)
        .update(status=Job.Status.FAILED, finished_at=now, message=ABANDONED_MESSAGE)
    )
