"""A real round trip: a Celery worker consuming from the configured broker (Redis from
``CELERY_BROKER_URL`` in CI, the embedded filesystem broker otherwise) runs a job, and its
notification appears in the database.

The worker runs in a thread of this process (``celery.contrib.testing.worker``), so it
shares Django's connection settings and uses the test database; the test is
transactional so the worker's connection sees the rows the test committed. A queue named
for this test keeps other test processes' workers from taking its tasks.
"""

import datetime as dt
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from people.models import Job, Notification
from portfolio import tasks
from portfolio.celery import app
from tests.factories import RiskAssessmentFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    return f"test-jobs-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(queue):
    with start_worker(
        app, queues=[queue], perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ) as w:
        yield w


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_runs_a_scan_and_the_notification_appears(worker, queue, lead_a, initiative_a):
    RiskAssessmentFactory(
        initiative=initiative_a, next_review_due=timezone.localdate() - dt.timedelta(days=2)
    )
    result = tasks.run_scan.apply_async(args=["risk_reviews_overdue"], queue=queue)
    report = result.get(timeout=60)
    assert report["notifications_created"] == 1
    notification = Notification.objects.get(user=lead_a)
    assert notification.kind == "risk_review_overdue"
    assert TaskResult.objects.filter(task_id=result.id, status="SUCCESS").exists()


def test_run_now_enqueued_on_commit_records_the_requesting_user(
    worker, queue, pmo, lead_a, initiative_a
):
    RiskAssessmentFactory(
        initiative=initiative_a, next_review_due=timezone.localdate() - dt.timedelta(days=2)
    )
    with transaction.atomic():
        transaction.on_commit(
            lambda: tasks.run_scan.apply_async(
                args=["risk_reviews_overdue"], kwargs={"requested_by_id": pmo.pk}, queue=queue
            )
        )
        # Nothing is sent before the commit.
        assert not Job.objects.exists()
    assert _wait_for(
        lambda: Job.objects.filter(
            kind="scan:risk_reviews_overdue", status=Job.Status.SUCCEEDED
        ).exists()
    )
    job = Job.objects.get(kind="scan:risk_reviews_overdue")
    assert job.requested_by == pmo
    assert Notification.objects.filter(user=lead_a, kind="risk_review_overdue").count() == 1
