"""Finance pages: scoping (404 across units, 403 when not allowed), the budget workflow
through the web, the ledger with totals, manual entry, upload -> preview -> job, query
budgets flat in rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance.models import Budget, ImportBatch, SpendEntry
from finance.tasks import spend_import_task
from people.models import Job
from tests.factories import BudgetFactory, ExchangeRateFactory, SpendEntryFactory

pytestmark = pytest.mark.django_db

HEADER = "date,initiative,kind,category,amount,currency,vendor,reference\n"


@pytest.fixture
def budget_a(initiative_a, lead_a):
    return BudgetFactory(initiative=initiative_a, requested_by=lead_a)


@pytest.fixture
def budget_b(initiative_b, lead_b):
    return BudgetFactory(initiative=initiative_b, requested_by=lead_b)


def _get(client, user, name, *args, **query):
    client.force_login(user)
    return client.get(reverse(name, args=args), query)


LIST_PAGES = ["finance:index", "finance:budget_list", "finance:spend_list"]


@pytest.mark.parametrize("name", LIST_PAGES)
def test_unit_lead_list_pages_never_show_other_units_money(
    client, lead_b, budget_a, budget_b, initiative_a, name
):
    SpendEntryFactory(initiative=initiative_a, vendor="Secret Vendor A", reference="SA")
    body = _get(client, lead_b, name).content.decode()
    assert "AI-A-1" not in body and "Secret Vendor A" not in body


@pytest.mark.parametrize("name", ["budget_detail", "budget_amend"])
def test_cross_unit_budget_pages_are_404(client, lead_b, budget_a, name):
    assert _get(client, lead_b, f"finance:{name}", budget_a.pk).status_code == 404


@pytest.mark.parametrize("name", ["budget_approve", "budget_reject"])
def test_cross_unit_budget_decisions_are_404(client, lead_b, budget_a, name):
    client.force_login(lead_b)
    assert client.post(reverse(f"finance:{name}", args=[budget_a.pk])).status_code == 404


def test_finance_sees_every_unit(client, finance, budget_a, budget_b):
    body = _get(client, finance, "finance:budget_list").content.decode()
    assert "AI-A-1" in body and "AI-B-1" in body


def test_finance_approves_a_request(client, finance, budget_a):
    client.force_login(finance)
    response = client.post(reverse("finance:budget_approve", args=[budget_a.pk]), {"note": "ok"})
    assert response.status_code == 302
    budget_a.refresh_from_db()
    assert budget_a.status == Budget.Status.APPROVED and budget_a.approved_by == finance


def test_requester_cannot_approve_own_request_and_is_told_why(client, finance, initiative_a):
    own = BudgetFactory(initiative=initiative_a, requested_by=finance)
    client.force_login(finance)
    response = client.post(reverse("finance:budget_approve", args=[own.pk]), follow=True)
    assert "Separation of duties" in response.content.decode()
    own.refresh_from_db()
    assert own.status == Budget.Status.REQUESTED


def test_unit_lead_cannot_approve_in_own_unit(client, lead_a, initiative_a, member_a):
    budget = BudgetFactory(initiative=initiative_a, requested_by=member_a)
    client.force_login(lead_a)
    assert client.post(reverse("finance:budget_approve", args=[budget.pk])).status_code == 403


def test_reject_requires_a_reason(client, finance, budget_a):
    client.force_login(finance)
    response = client.post(reverse("finance:budget_reject", args=[budget_a.pk]), follow=True)
    assert "Say why" in response.content.decode()
    budget_a.refresh_from_db()
    assert budget_a.status == Budget.Status.REQUESTED


def test_lead_requests_then_amends_an_approved_budget(client, lead_a, finance, initiative_a):
    client.force_login(lead_a)
    response = client.post(
        reverse("finance:budget_request"),
        {
            "initiative": initiative_a.pk,
            "fiscal_year": 2026,
            "kind": "operational",
            "category": "compute",
            "amount": "5000",
            "currency": "USD",
            "justification": "GPUs",
        },
    )
    assert response.status_code == 302
    budget = Budget.objects.get()
    client.force_login(finance)
    client.post(reverse("finance:budget_approve", args=[budget.pk]))
    client.force_login(lead_a)
    response = client.post(
        reverse("finance:budget_amend", args=[budget.pk]),
        {"amount": "7000", "justification": "More traffic"},
    )
    assert response.status_code == 302
    amendment = Budget.objects.get(amends=budget)
    assert (amendment.amount, amendment.status) == (D("7000.00"), Budget.Status.REQUESTED)


def test_request_form_accepts_only_editable_initiatives(client, lead_a, initiative_a, initiative_b):
    # The initiative is a code with suggestions (/initiatives/autocomplete/), not a list.
    body = _get(client, lead_a, "finance:budget_request").content.decode()
    assert "AI-B-1" not in body and 'hx-get="/initiatives/autocomplete/"' in body
    client.force_login(lead_a)
    for value in (initiative_b.pk, initiative_b.code):
        response = client.post(
            reverse("finance:budget_request"),
            {"initiative": value, "fiscal_year": 2026, "kind": "one_time"},
        )
        assert response.status_code == 200 and not Budget.objects.exists()
        assert "initiative" in response.context["form"].errors


@pytest.mark.parametrize("name", ["budget_request", "spend_create", "spend_import"])
def test_auditor_reads_but_cannot_write(client, auditor, budget_a, name):
    assert _get(client, auditor, "finance:budget_list").status_code == 200
    assert _get(client, auditor, "finance:spend_list").status_code == 200
    assert _get(client, auditor, f"finance:{name}").status_code == 403
    client.force_login(auditor)
    assert client.post(reverse("finance:budget_approve", args=[budget_a.pk])).status_code == 403


def test_ledger_totals_per_currency_and_in_reporting_currency(client, finance, initiative_a):
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.10"))
    SpendEntryFactory(initiative=initiative_a, amount=D("100"), currency="USD")
    SpendEntryFactory(initiative=initiative_a, amount=D("100"), currency="EUR")
    SpendEntryFactory(initiative=initiative_a, amount=D("5"), currency="GBP")
    body = _get(client, finance, "finance:spend_list").content.decode()
    assert "USD 210.00" in body  # 100 USD + 100 EUR x 1.10; GBP has no rate
    assert "excludes GBP" in body
    body = _get(client, finance, "finance:spend_list", currency="EUR").content.decode()
    assert "USD 110.00" in body


def test_manual_spend_entry(client, lead_a, initiative_a, initiative_b):
    client.force_login(lead_a)
    data = {
        "initiative": initiative_a.pk,
        "posted_on": "2026-03-01",
        "kind": "operational",
        "category": "tooling",
        "amount": "12.50",
        "currency": "USD",
    }
    assert client.post(reverse("finance:spend_create"), data).status_code == 302
    entry = SpendEntry.objects.get()
    assert (entry.source, entry.entered_by, entry.amount) == ("manual", lead_a, D("12.50"))
    response = client.post(reverse("finance:spend_create"), dict(data, initiative=initiative_b.pk))
    assert response.status_code == 200 and SpendEntry.objects.count() == 1


@pytest.mark.parametrize("url_name", ["finance:budget_list", "finance:spend_list"])
def test_list_query_count_is_flat_in_rows(client, lead_a, initiative_a, url_name):
    client.force_login(lead_a)

    def count(n):
        for i in range(n):
            SpendEntryFactory(initiative=initiative_a, amount=D(i + 1))
            BudgetFactory(initiative=initiative_a, fiscal_year=2000 + len(Budget.objects.all()))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(url_name)).status_code == 200
        return len(ctx.captured_queries)

    assert count(5) == count(45)


def test_upload_preview_then_confirm_runs_the_task_with_progress(
    client, lead_a, initiative_a, django_capture_on_commit_callbacks
):
    client.force_login(lead_a)
    data = HEADER + "2026-01-01,AI-A-1,one_time,compute,5,USD,,A\n"
    upload = SimpleUploadedFile("postings.csv", data.encode(), content_type="text/csv")
    response = client.post(reverse("finance:spend_import"), {"file": upload, "source": "erp"})
    body = response.content.decode()
    assert "Preview of postings.csv" in body and "Import now" in body
    assert not SpendEntry.objects.exists()  # the preview is a dry run
    job = Job.objects.get(kind="spend_import")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("finance:spend_import"), {"action": "confirm", "job": job.pk}
        )
    assert response.status_code == 302 and len(callbacks) == 1
    spend_import_task(job.pk)  # what the worker runs
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.report["created"] == 1
    assert SpendEntry.objects.get().entered_by == lead_a
    page = client.get(reverse("people:job_detail", args=[job.pk])).content.decode()
    assert 'data-report="spend_import"' in page
    spend_import_task(job.pk)  # idempotent: a finished job is left alone
    assert SpendEntry.objects.count() == 1


def test_task_reports_rejected_rows_and_fails_the_job(lead_a, initiative_a, initiative_b):
    from people.jobs import job_create

    data = (
        HEADER
        + "2026-01-01,AI-A-1,one_time,compute,5,USD,,A\n2026-01-01,AI-B-1,one_time,compute,5,USD,,B\n"
    )
    job = job_create(
        kind="spend_import",
        requested_by=lead_a,
        params={"source": "erp", "keep_valid_rows": False, "filename": "p.csv"},
        input_file=("p.csv", data.encode()),
    )
    spend_import_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.report["errors"][0]["row"] == 3 and not SpendEntry.objects.exists()
    assert ImportBatch.objects.get().status == ImportBatch.Status.FAILED


def test_preview_shows_errors_for_a_bad_file(client, finance, initiative_a):
    client.force_login(finance)
    data = HEADER + "2026-13-01,AI-A-1,one_time,compute,5,USD,,A\n"
    upload = SimpleUploadedFile("bad.csv", data.encode())
    body = client.post(
        reverse("finance:spend_import"), {"file": upload, "source": "erp"}
    ).content.decode()
    assert "is not a date" in body and "nothing will be written" in body
    assert "Import now" not in body


def test_finance_pages_need_sign_in(client):
    for name in LIST_PAGES:
        assert client.get(reverse(name)).status_code == 302


def test_outsider_sees_empty_pages(client, outsider, budget_a):
    body = _get(client, outsider, "finance:budget_list").content.decode()
    assert "AI-A-1" not in body
    assert _get(client, outsider, "finance:budget_detail", budget_a.pk).status_code == 404


def test_confirming_someone_elses_import_job_is_404(client, lead_a, lead_b, initiative_a):
    from people.jobs import job_create

    job = job_create(
        kind="spend_import",
        requested_by=lead_a,
        params={"source": "erp", "keep_valid_rows": False, "filename": "p.csv"},
        input_file=("p.csv", (HEADER + "2026-01-01,AI-A-1,one_time,compute,5,USD,,A\n").encode()),
    )
    client.force_login(lead_b)
    response = client.post(reverse("finance:spend_import"), {"action": "confirm", "job": job.pk})
    assert response.status_code == 404
