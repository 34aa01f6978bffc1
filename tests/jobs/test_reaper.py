"""Issue 12: a killed worker or import left its job and batch "running" forever (once
with all 200,000 rows committed and the batch saying rows_total 0). The batch is now
finished in the writing transaction, and reapers scheduled by beat end abandoned work."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from finance.models import ImportBatch, SpendEntry
from finance.services import spend_import
from people.jobs import ABANDONED_MESSAGE, jobs_reap_abandoned
from people.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

CSV = (
    b"date,initiative,kind,category,amount,currency,vendor,reference\n"
    b"2026-01-15,AI-A-1,one_time,compute,1000.00,USD,Cloud Co,P-1\n"
    b"2026-02-15,AI-A-1,operational,vendor,250.50,EUR,Vendor AG,P-2\n"
)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler in the app catches it."""


def test_postings_and_their_batch_commit_together(finance, initiative_a, monkeypatch):
    from finance import services

    real = services._finish_batch
    seen = {}

    def finish_then_die(batch, outcome, **kwargs):
        real(batch, outcome, **kwargs)
        # Same transaction as the write: the batch's counts sit beside the postings...
        seen["postings"] = SpendEntry.objects.count()
        seen["batch"] = ImportBatch.objects.values_list("status", "rows_total").get(pk=batch.pk)
        raise WorkerKilled  # ...and the worker dies before the commit.

    monkeypatch.setattr(services, "_finish_batch", finish_then_die)
    with pytest.raises(WorkerKilled):
        spend_import(acting_user=finance, file=io.BytesIO(CSV), filename="p.csv", source="erp")
    assert seen == {"postings": 2, "batch": (ImportBatch.Status.SUCCEEDED, 2)}
    # Nothing of it committed: no postings under a batch that says otherwise.
    assert not SpendEntry.objects.exists()
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.rows_total) == (ImportBatch.Status.RUNNING, 0)

    # The reaper ends it truthfully once it is older than any task may run.
    from finance.tasks import reap_abandoned_import_batches

    ImportBatch.objects.filter(pk=batch.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=3)
    )
    assert reap_abandoned_import_batches() == 1
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert "nothing was written" in batch.errors[0]["reason"]


def test_a_recent_running_batch_is_left_alone(finance):
    from finance.services import import_batches_reap_abandoned

    ImportBatch.objects.create(source="erp", status=ImportBatch.Status.RUNNING)
    assert import_batches_reap_abandoned(older_than=dt.timedelta(minutes=90)) == 0


def test_reaper_fails_abandoned_jobs_only(finance):
    now = timezone.now()
    old = now - dt.timedelta(hours=3)

    def job(status, *, started=None, task_id="", created=old):
        j = JobFactory(status=status, started_at=started, celery_task_id=task_id)
        Job.objects.filter(pk=j.pk).update(created_at=created)
        return j

    lost = job(Job.Status.RUNNING, started=old, task_id="t1")
    busy = job(Job.Status.RUNNING, started=now - dt.timedelta(minutes=5), created=now)
    never_started = job(Job.Status.PENDING, task_id="t2")
    preview = job(Job.Status.PENDING)  # waiting for its "Import now": not enqueued
    done = job(Job.Status.SUCCEEDED, started=old, task_id="t3")
    assert jobs_reap_abandoned(older_than=dt.timedelta(minutes=90)) == 2
    status = dict(Job.objects.values_list("pk", "status"))
    assert status == {
        lost.pk: Job.Status.FAILED,
        busy.pk: Job.Status.RUNNING,
        never_started.pk: Job.Status.FAILED,
        preview.pk: Job.Status.PENDING,
        done.pk: Job.Status.SUCCEEDED,
    }
    lost.refresh_from_db()
    assert lost.message == ABANDONED_MESSAGE and lost.finished_at is not None


def test_the_reapers_are_scheduled_by_beat(default_schedules):
    from django_celery_beat.models import PeriodicTask

    from portfolio.celery import app

    tasks = set(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))
    assert {
        "people.tasks.reap_abandoned_jobs",
        "finance.tasks.reap_abandoned_import_batches",
    } <= tasks
    app.loader.import_default_modules()
    assert "people.tasks.reap_abandoned_jobs" in app.tasks
    assert "finance.tasks.reap_abandoned_import_batches" in app.tasks


def test_reap_abandoned_jobs_task_uses_the_setting(settings, finance):
    from people.tasks import reap_abandoned_jobs

    settings.JOBS_ABANDONED_AFTER_MINUTES = 1
    j = JobFactory(status=Job.Status.RUNNING, started_at=timezone.now() - dt.timedelta(minutes=5))
    Job.objects.filter(pk=j.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert reap_abandoned_jobs() == 1
