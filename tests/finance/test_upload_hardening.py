"""Issue 12: uploads are capped, XLSX is parsed with bounded memory, large files are
previewed in the worker, and a huge CSV header cell is a clear error (not a 500)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from finance.models import ImportBatch, SpendEntry
from finance.services import spend_import
from finance.tasks import spend_import_task
from people.models import Job
from people.uploads import check_upload

pytestmark = pytest.mark.django_db

HEADER = "date,initiative,kind,category,amount,currency,vendor,reference\n"


def _bomb(unpacked_mb: int) -> bytes:
    """A small zip named like a workbook whose shared strings unpack to ``unpacked_mb``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", b"A" * (unpacked_mb * 1024 * 1024))
    return out.getvalue()


def test_upload_over_the_size_cap_is_refused_with_a_clear_message(client, finance, settings):
    settings.UPLOAD_MAX_MB = 1
    client.force_login(finance)
    big = HEADER + "2026-01-01,AI-A-1,one_time,compute,5,USD,,A\n" * 30_000
    upload = SimpleUploadedFile("big.csv", big.encode())
    response = client.post(reverse("finance:spend_import"), {"file": upload, "source": "erp"})
    assert response.status_code == 200
    assert "the largest file accepted is 1 MB" in response.content.decode()
    assert not Job.objects.exists() and not ImportBatch.objects.exists()


def test_xlsx_that_unpacks_beyond_the_cap_is_refused_before_parsing(
    client, finance, settings, monkeypatch
):
    settings.UPLOAD_XLSX_MAX_UNPACKED_MB = 5
    bomb = _bomb(8)
    assert len(bomb) < 100 * 1024  # a few KB of zip
    import openpyxl

    def never(*args, **kwargs):
        raise AssertionError("openpyxl must not open a workbook over the cap")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    client.force_login(finance)
    upload = SimpleUploadedFile("bomb.xlsx", bomb)
    body = client.post(
        reverse("finance:spend_import"), {"file": upload, "source": "erp"}
    ).content.decode()
    assert "unpacks to more than 5 MB" in body
    # The service (command, task) refuses it too, as a file error on the batch.
    result = spend_import(acting_user=finance, file=io.BytesIO(bomb), filename="b.xlsx", source="e")
    assert "unpacks to more than 5 MB" in result.batch.errors[0]["reason"]
    assert result.batch.status == ImportBatch.Status.FAILED


def test_shared_helper_refuses_a_bomb_and_accepts_a_normal_workbook(settings, tmp_path):
    from openpyxl import Workbook

    settings.UPLOAD_XLSX_MAX_UNPACKED_MB = 5
    with pytest.raises(ValidationError):
        check_upload(SimpleUploadedFile("x.xlsx", _bomb(6)))
    workbook = Workbook()
    workbook.active.append(HEADER.strip().split(","))
    path = tmp_path / "ok.xlsx"
    workbook.save(path)
    check_upload(SimpleUploadedFile("ok.xlsx", path.read_bytes()))


def test_inventory_upload_uses_the_same_guard(client, pmo, settings):
    settings.UPLOAD_XLSX_MAX_UNPACKED_MB = 5
    client.force_login(pmo)
    upload = SimpleUploadedFile("inventory.xlsx", _bomb(6))
    response = client.post(
        reverse("governance:inventory_import"), {"file": upload, "format": "omb-2025"}
    )
    assert response.status_code == 200
    assert "unpacks to more than 5 MB" in response.content.decode()


def test_a_header_cell_over_the_csv_field_limit_is_a_clear_error(client, finance):
    client.force_login(finance)
    header = '"' + "x" * 140_000 + '",' + HEADER
    upload = SimpleUploadedFile("wide.csv", (header + "1,2\n").encode())
    response = client.post(reverse("finance:spend_import"), {"file": upload, "source": "erp"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "header row" in body and "Traceback" not in body


def test_a_quoted_header_cell_over_the_field_limit_within_the_line_cap(finance):
    """A cell of 131,073 characters inside a short-enough line still fails csv's own
    field limit: that is a file error too."""
    import csv

    from finance import imports

    limit = csv.field_size_limit()
    original = imports.MAX_HEADER_BYTES
    imports.MAX_HEADER_BYTES = limit * 2
    try:
        data = ('"' + "y" * (limit + 1) + '",' + HEADER).encode()
        result = spend_import(
            acting_user=finance, file=io.BytesIO(data), filename="h.csv", source="e"
        )
    finally:
        imports.MAX_HEADER_BYTES = original
    assert "header row could not be read" in result.batch.errors[0]["reason"]


def test_large_upload_is_checked_in_the_worker_not_the_request(
    client, finance, initiative_a, monkeypatch, django_capture_on_commit_callbacks
):
    from finance import views

    monkeypatch.setattr(views, "PREVIEW_FULL_BYTES", 1024)
    rows = "".join(f"2026-01-01,AI-A-1,one_time,compute,5,USD,,R-{i}\n" for i in range(200))
    client.force_login(finance)
    upload = SimpleUploadedFile("many.csv", (HEADER + rows).encode())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = client.post(
            reverse("finance:spend_import"), {"file": upload, "source": "erp"}
        ).content.decode()
    # The request read only the first rows...
    request_batch = ImportBatch.objects.get()
    assert request_batch.rows_total == views.PREVIEW_ROWS
    # ...and queued the full check for a worker.
    assert "data-check-job" in body and len(callbacks) == 1
    check = Job.objects.get(params__dry_run=True)
    spend_import_task(check.pk)
    check.refresh_from_db()
    assert check.status == Job.Status.SUCCEEDED, check.message
    assert (check.report["rows"], check.report["created"], check.report["dry_run"]) == (
        200,
        200,
        True,
    )
    assert not SpendEntry.objects.exists()  # a check writes nothing
