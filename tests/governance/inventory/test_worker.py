"""One real round trip through a Celery worker (see tests/jobs/test_worker.py for how)."""

from __future__ import annotations

import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from governance.inventory.jobs import KIND
from governance.tasks import inventory_import_task
from people.jobs import job_create
from people.models import Job
from portfolio.celery import app
from portfolio.models import Initiative
from tests.governance.inventory.helpers import small_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_an_uploaded_import_and_the_job_carries_the_report(pmo, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    queue = f"test-inventory-{uuid.uuid4().hex[:8]}"
    job = job_create(
        kind=KIND,
        requested_by=pmo,
        params={"filename": "omb_small.csv", "format": "omb-2025", "keep_valid_rows": True},
        input_file=("omb_small.csv", small_bytes()),
    )
    with start_worker(
        app, queues=[queue], perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ):
        inventory_import_task.apply_async(args=[job.pk], queue=queue).get(timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert (job.report["created"], job.report["rejected"]) == (6, 4)
    event = Initiative.objects.get(name="Case triage").events.first()
    assert event.pgh_context.metadata["user"] == pmo.pk
