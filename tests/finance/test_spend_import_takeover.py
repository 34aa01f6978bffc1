"""Issue 12, critical: a spend import may not take over another unit's posting.

The import identifies a posting by ``(source, reference)``. A row whose reference already
belongs to a posting the caller may not change is a row error (whatever initiative the
row names), the posting stays as it was, and the preview counts it neither as "changed"
nor as "new". Tried through every path: the service, the API's bulk endpoint, the
upload page (preview, then the import job) and the ``import_spend`` command.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from finance.models import ImportBatch, SpendEntry
from finance.services import spend_entries_upsert, spend_import
from finance.tasks import spend_import_task
from people.models import Job
from tests.factories import SpendEntryFactory

pytestmark = pytest.mark.django_db

HEADER = "date,initiative,kind,category,amount,currency,vendor,reference\n"
TAKEOVER = "2026-01-15,AI-A-1,operational,compute,1.00,USD,Mine,ERP-2026-000553"
OWN = "2026-01-16,AI-A-1,operational,compute,5.00,USD,Mine,OWN-1"


@pytest.fixture
def posting_b(initiative_b):
    """Unit B's posting, imported from the ERP."""
    return SpendEntryFactory(
        initiative=initiative_b,
        source="erp",
        reference="ERP-2026-000553",
        amount=D("17923.54"),
        vendor="Consultancy",
    )


def _unchanged(posting):
    fresh = SpendEntry.objects.get(pk=posting.pk)
    assert (fresh.amount, fresh.initiative_id, fresh.business_unit_id, fresh.vendor) == (
        D("17923.54"),
        posting.initiative_id,
        posting.business_unit_id,
        "Consultancy",
    )


def _csv(*lines):
    return io.BytesIO((HEADER + "".join(f"{line}\n" for line in lines)).encode())


def test_service_refuses_a_row_whose_reference_is_another_units_posting(
    lead_a, initiative_a, posting_b
):
    result = spend_import(acting_user=lead_a, file=_csv(OWN, TAKEOVER), source="erp")
    assert not result.ok
    (error,) = result.batch.errors
    assert (error["row"], error["column"]) == (3, "reference")
    # Nothing about the other posting: not its unit, initiative, amount or vendor.
    for secret in ("17923", "AI-B-1", "Wealth", "Consultancy"):
        assert secret not in error["reason"]
    _unchanged(posting_b)
    assert not SpendEntry.objects.filter(reference="OWN-1").exists()  # all or nothing


def test_keep_valid_rows_still_leaves_the_other_units_posting_alone(
    lead_a, initiative_a, posting_b
):
    result = spend_import(
        acting_user=lead_a, file=_csv(OWN, TAKEOVER), source="erp", keep_valid_rows=True
    )
    assert (result.batch.created_count, result.batch.updated_count) == (1, 0)
    assert result.batch.rejected_count == 1
    _unchanged(posting_b)


def test_the_same_reference_in_another_source_is_not_a_conflict(lead_a, initiative_a, posting_b):
    result = spend_import(acting_user=lead_a, file=_csv(TAKEOVER), source="sap")
    assert result.ok and result.batch.created_count == 1
    _unchanged(posting_b)


def test_lead_still_updates_their_own_units_posting(lead_a, initiative_a, initiative_a_child):
    mine = SpendEntryFactory(
        initiative=initiative_a_child, source="erp", reference="ERP-2026-000553"
    )
    result = spend_import(acting_user=lead_a, file=_csv(TAKEOVER), source="erp")
    assert result.ok and result.batch.updated_count == 1
    mine.refresh_from_db()
    assert (mine.amount, mine.initiative_id) == (D("1.00"), initiative_a.pk)


def test_finance_may_move_a_posting_between_units(finance, initiative_a, posting_b):
    result = spend_import(acting_user=finance, file=_csv(TAKEOVER), source="erp")
    assert result.ok and result.batch.updated_count == 1
    posting_b.refresh_from_db()
    assert posting_b.business_unit_id == initiative_a.business_unit_id


def test_dry_run_preview_does_not_count_the_other_units_posting(lead_a, initiative_a, posting_b):
    """Without the fix the preview said "1 changed"; "1 new" would say the reference is
    free. Either count leaks: the row is rejected and counted as neither."""
    result = spend_import(acting_user=lead_a, file=_csv(TAKEOVER), source="erp", dry_run=True)
    batch = result.batch
    assert (batch.created_count, batch.updated_count, batch.unchanged_count) == (0, 0, 0)
    assert batch.rejected_count == 1


def test_api_bulk_refuses_to_overwrite_another_units_posting(lead_a, initiative_a, posting_b):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(lead_a)
    row = {
        "reference": "ERP-2026-000553",
        "initiative": "AI-A-1",
        "posted_on": "2026-01-15",
        "kind": "operational",
        "category": "compute",
        "amount": "1.00",
        "currency": "USD",
    }
    response = client.post(
        reverse("v1:spendentry-bulk"), {"source": "erp", "rows": [row]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "rows.0.reference" in response.json()["fields"]
    _unchanged(posting_b)


def test_api_upsert_service_refuses_it_too(lead_a, initiative_a, posting_b):
    from django.core.exceptions import ValidationError

    row = {
        "reference": "ERP-2026-000553",
        "initiative": initiative_a.pk,
        "posted_on": dt.date(2026, 1, 15),
        "kind": "operational",
        "category": "compute",
        "amount": "1.00",
        "currency": "USD",
    }
    with pytest.raises(ValidationError):
        spend_entries_upsert(acting_user=lead_a, source="erp", rows=[row])
    _unchanged(posting_b)


def test_upload_page_preview_reveals_nothing_and_the_job_writes_nothing(
    client, lead_a, initiative_a, posting_b
):
    client.force_login(lead_a)
    upload = SimpleUploadedFile("p.csv", (HEADER + TAKEOVER + "\n").encode())
    body = client.post(
        reverse("finance:spend_import"), {"file": upload, "source": "erp"}
    ).content.decode()
    assert "Preview of p.csv" in body
    assert "<strong>1</strong> changed" not in body
    assert "17923" not in body and "AI-B-1" not in body
    assert "Import now" not in body  # a rejected row and all-or-nothing: nothing to import
    job = Job.objects.get(kind="spend_import")
    spend_import_task(job.pk)  # even if the job is forced through, it writes nothing
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    _unchanged(posting_b)


def test_upload_page_with_keep_valid_rows_does_not_take_the_posting(
    client, lead_a, initiative_a, posting_b
):
    client.force_login(lead_a)
    upload = SimpleUploadedFile("p.csv", (HEADER + OWN + "\n" + TAKEOVER + "\n").encode())
    client.post(
        reverse("finance:spend_import"),
        {"file": upload, "source": "erp", "keep_valid_rows": "on"},
    )
    job = Job.objects.get(kind="spend_import")
    spend_import_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.report["created"] == 1
    assert job.report["updated"] == 0 and job.report["rejected"] == 1
    _unchanged(posting_b)


def test_import_spend_command_as_a_unit_lead_refuses_the_row(
    lead_a, initiative_a, posting_b, tmp_path, capsys
):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + TAKEOVER + "\n")
    with pytest.raises(SystemExit):
        call_command("import_spend", str(path), "--source", "erp", "--user", lead_a.username)
    out = capsys.readouterr().out
    assert "Row 2, reference" in out
    call_command(
        "import_spend",
        str(path),
        "--source",
        "erp",
        "--user",
        lead_a.username,
        "--keep-valid-rows",
    )
    assert "updated 0" in capsys.readouterr().out
    _unchanged(posting_b)
    assert ImportBatch.objects.filter(updated_count__gt=0).count() == 0
