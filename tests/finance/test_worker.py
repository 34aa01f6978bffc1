"""One real round trip of the spend import through a Celery worker on the configured
broker (Redis in CI, the filesystem transport by default)."""

from __future__ import annotations

import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from finance.models import SpendEntry
from finance.tasks import SPEND_IMPORT, spend_import_task
from people.jobs import job_create
from people.models import Job
from portfolio.celery import app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CSV = (
    "date,initiative,kind,category,amount,currency,vendor,reference\n"
    "2026-10-03,AI-A-1,operational,compute,1250.00,USD,Azure,ERP-1\n"
    "2026-10-17,AI-A-1,one_time,personnel,8000.00,USD,Internal,ERP-2\n"
)


def test_a_worker_imports_an_uploaded_file_as_the_person_who_asked(
    finance, initiative_a, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    queue = f"test-spend-{uuid.uuid4().hex[:8]}"
    job = job_create(
        kind=SPEND_IMPORT,
        requested_by=finance,
        params={"filename": "postings.csv", "source": "erp"},
        input_file=("postings.csv", CSV.encode()),
    )
    with start_worker(
        app, queues=[queue], perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ):
        spend_import_task.apply_async(args=[job.pk], queue=queue).get(timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.percent == 100
    entries = SpendEntry.objects.filter(source="erp").order_by("reference")
    assert [(e.reference, str(e.amount)) for e in entries] == [
        ("ERP-1", "1250.00"),
        ("ERP-2", "8000.00"),
    ]
    event = SpendEntry.pgh_event_models["insert"].objects.filter(pgh_obj=entries[0]).get()
    assert event.pgh_context.metadata["user"] == finance.pk
