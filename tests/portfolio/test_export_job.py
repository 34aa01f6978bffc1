"""A long export runs as a Celery job with progress and a file to download; a short one
is answered at once. Both carry exactly the rows the person may see, filtered as asked."""

import csv
import io

import pytest
from django.urls import reverse

from people.models import Job
from portfolio.celery import app
from tests.factories import InitiativeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def portfolio_rows(unit_a, unit_b):
    for n in range(3):
        InitiativeFactory(code=f"A-{n}", business_unit=unit_a, stage="proof_of_concept")
    InitiativeFactory(code="A-PROD", business_unit=unit_a, stage="initial_production")
    InitiativeFactory(code="B-0", business_unit=unit_b)


def _download(client, job):
    response = client.get(reverse("people:job_download", args=[job.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row[0] for row in csv.reader(io.StringIO(body))][1:]


def test_a_long_export_runs_as_a_job_with_the_requesters_scope_and_filters(
    client, lead_a, portfolio_rows, settings, tmp_path, eager, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_ROWS = 2
    settings.MEDIA_ROOT = tmp_path
    client.force_login(lead_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            reverse("initiative_export", args=["csv"]), {"stage": "proof_of_concept"}
        )
    job = Job.objects.get(kind="initiative_export")
    assert response.status_code == 302
    assert response.url == reverse("people:job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.report == {"rows": 3, "format": "csv"}
    assert _download(client, job) == ["A-0", "A-1", "A-2"]


def test_another_unit_lead_cannot_fetch_the_export(
    client,
    lead_a,
    lead_b,
    portfolio_rows,
    settings,
    tmp_path,
    eager,
    django_capture_on_commit_callbacks,
):
    settings.EXPORT_INLINE_ROWS = 2
    settings.MEDIA_ROOT = tmp_path
    client.force_login(lead_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("initiative_export", args=["xlsx"]))
    job = Job.objects.get(kind="initiative_export")
    client.force_login(lead_b)
    assert client.get(reverse("people:job_download", args=[job.pk])).status_code == 404


def test_a_short_export_is_answered_at_once(client, lead_a, portfolio_rows):
    client.force_login(lead_a)
    response = client.get(reverse("initiative_export", args=["csv"]))
    assert response.status_code == 200
    assert not Job.objects.exists()
