from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance import inventory_views
from governance.inventory.jobs import KIND, run_inventory_job
from people.models import Job
from portfolio.models import Initiative
from tests.governance.inventory.helpers import small_bytes

pytestmark = pytest.mark.django_db
URL = "governance:inventory_import"


def upload(client, action="preview", keep=False, name="omb_small.csv", data=None):
    payload = {
        "file": SimpleUploadedFile(name, data if data is not None else small_bytes()),
        "format": "omb-2025",
        "action": action,
    }
    if keep:
        payload["keep_valid_rows"] = "on"
    return client.post(reverse(URL), payload)


def test_pmo_sees_the_upload_page(client, pmo):
    client.force_login(pmo)
    assert client.get(reverse(URL)).status_code == 200


def test_unit_lead_gets_403_on_the_upload_page(client, lead_a):
    client.force_login(lead_a)
    assert client.get(reverse(URL)).status_code == 403
    assert upload(client, action="import", keep=True).status_code == 403
    assert Initiative.objects.count() == 0


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get(reverse(URL)).status_code == 302


def test_preview_shows_the_rejected_rows_and_writes_nothing(client, pmo):
    client.force_login(pmo)
    response = upload(client)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Rejected rows" in html
    assert "use_case_name is blank" in html
    assert "Dry run: nothing was written." in html
    assert Initiative.objects.count() == 0


def test_import_without_keeping_valid_rows_writes_nothing_and_says_why(client, pmo):
    client.force_login(pmo)
    html = upload(client, action="import").content.decode()
    assert "Nothing was written: 4 rows were rejected" in html
    assert Initiative.objects.count() == 0


def test_import_keeping_valid_rows_creates_them(client, pmo):
    client.force_login(pmo)
    upload(client, action="import", keep=True)
    assert Initiative.objects.count() == 6


def test_an_unreadable_file_is_reported_on_the_file_field(client, pmo):
    client.force_login(pmo)
    html = upload(client, data=b"nothing,here\n1,2\n").content.decode()
    assert "No header row found" in html


def test_a_large_file_runs_as_a_job_with_progress_and_report(
    client, pmo, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(inventory_views, "INLINE_LIMIT", 100)
    client.force_login(pmo)
    response = upload(client, action="import", keep=True)
    job = Job.objects.get(kind=KIND)
    assert response.status_code == 302
    assert response["Location"] == reverse("people:job_detail", args=[job.pk])
    assert job.requested_by == pmo and job.input_file
    run_inventory_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.report["created"] == 6 and job.progress_done == job.progress_total
    page = client.get(reverse("people:job_detail", args=[job.pk])).content.decode()
    assert "Rejected rows" in page and "use_case_name is blank" in page
    run_inventory_job(job.pk)  # idempotent: a finished job is not run again
    assert Initiative.objects.count() == 6


def test_a_job_whose_import_is_refused_fails_with_the_reason(
    client, pmo, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(inventory_views, "INLINE_LIMIT", 100)
    client.force_login(pmo)
    upload(client, action="import")
    job = Job.objects.get(kind=KIND)
    run_inventory_job(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "4 rows were rejected" in job.message
    assert Initiative.objects.count() == 0


def test_the_preview_shows_how_rows_match_and_missing_columns_prominently(client, pmo):
    from tests.governance.inventory.helpers import OMB_COLUMNS, csv_bytes, without

    client.force_login(pmo)
    upload(client, action="import", keep=True)
    columns = without(OMB_COLUMNS, "problem_solved", "benefits")
    data = csv_bytes([{"agency": "DOJ", "id": "DOJ-0001", "use_case_name": "Case triage"}], columns)
    response = upload(client, data=data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="warning"' in body and "problem_solved" in body
    assert "Rows matched to stored initiatives: id: 1" in body
    assert Initiative.objects.get(name="Case triage").problem.startswith("Too many tips")


def test_a_file_lacking_most_columns_is_refused_on_the_page_unless_told_to_go_on(client, pmo):
    client.force_login(pmo)
    data = b"agency,use_case_name\nDOJ,Case triage\n"
    response = upload(client, action="import", data=data)
    assert "Nothing was written" in response.content.decode()
    assert not Initiative.objects.exists()
    response = client.post(
        reverse(URL),
        {
            "file": SimpleUploadedFile("f.csv", data),
            "format": "omb-2025",
            "action": "import",
            "allow_missing_columns": "on",
        },
    )
    assert response.status_code == 200 and Initiative.objects.count() == 1
