"""One real round trip of the FOCUS import through a Celery worker on the configured broker,
attributed to the person who asked for it."""

from __future__ import annotations

import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from finance.focus.models import FocusLine
from finance.focus.services import allocation_rule_create
from finance.focus.tasks import FOCUS_IMPORT, focus_import_task
from finance.models import SpendEntry
from people.jobs import job_create
from people.models import Job
from portfolio.celery import app
from tests.finance import focus_data as fd

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_imports_a_focus_bill_as_the_person_who_asked(
    finance, initiative_a, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    allocation_rule_create(acting_user=finance, name="tag", tag_key="ai-initiative")
    rows = [fd.line("12.34", tags={"ai-initiative": initiative_a.code}), fd.line("1.00")]
    job = job_create(
        kind=FOCUS_IMPORT,
        requested_by=finance,
        params={"filename": "bill.csv.gz"},
        input_file=("bill.csv.gz", fd.gzip_bytes(rows)),
    )
    queue = f"test-focus-{uuid.uuid4().hex[:8]}"
    with start_worker(
        app, queues=[queue], perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ):
        focus_import_task.apply_async(args=[job.pk], queue=queue).get(timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.percent == 100
    assert job.report["rows"]["added"] == 2
    assert FocusLine.objects.filter(initiative=initiative_a).count() == 1
    entry = SpendEntry.objects.get(source="focus")
    assert str(entry.amount) == "12.34"
    event = SpendEntry.pgh_event_models["insert"].objects.filter(pgh_obj=entry).get()
    assert event.pgh_context.metadata["user"] == finance.pk
