"""FOCUS pages and API: who sees what (unallocated lines: global roles only; unit roles:
403 on the section, 404 on its records), rules claim existing lines without re-import,
AI usage on the money tab and the finance home, query counts flat in the rows."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finance.focus.models import AllocationRule, FocusLine
from finance.focus.services import allocation_rule_create, allocation_run, focus_import
from finance.focus.tasks import focus_import_task, focus_reallocate_task
from finance.models import SpendEntry
from people.models import Job
from tests import factories as f
from tests.finance import focus_data as fd

pytestmark = pytest.mark.django_db

PAGES = [
    "finance:focus_index",
    "finance:focus_rules",
    "finance:focus_unallocated",
    "finance:focus_settings",
]


@pytest.fixture
def run_jobs_inline(monkeypatch):
    """Run the enqueued job at once (the worker round trip is tested in test_worker)."""
    from people import jobs

    def enqueue(job, task, *args):
        from django.db import transaction

        transaction.on_commit(lambda: task(job.pk, *args))

    monkeypatch.setattr(jobs, "job_enqueue", enqueue)
    import finance.focus.api as api
    import finance.focus.views as views

    monkeypatch.setattr(views, "job_enqueue", enqueue)
    monkeypatch.setattr(api, "job_enqueue", enqueue)


@pytest.mark.parametrize("name", PAGES)
def test_finance_pmo_and_auditor_read_the_pages_unit_roles_get_403(
    name, client, finance, pmo, auditor, lead_a, member_a
):
    for user in (finance, pmo, auditor):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 200, user
    for user in (lead_a, member_a):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 403


def test_only_finance_may_post_uploads_or_rules(client, pmo, auditor, initiative_a):
    for user in (pmo, auditor):
        client.force_login(user)
        response = client.post(
            reverse("finance:focus_rules"),
            {"name": "x", "priority": 1, "tag_key": "a", "initiative": initiative_a.pk},
        )
        assert response.status_code == 403
        response = client.post(
            reverse("finance:focus_index"),
            {"file": io.BytesIO(fd.csv_bytes([fd.line("1")]))},
        )
        assert response.status_code == 403
    assert not AllocationRule.objects.exists()
    assert not Job.objects.exists()


def test_rule_pages_are_404_to_unit_roles_even_for_their_own_initiative(
    client, lead_a, initiative_a
):
    rule = f.AllocationRuleFactory(initiative=initiative_a)
    client.force_login(lead_a)
    assert client.get(reverse("finance:focus_rule_edit", args=[rule.pk])).status_code == 404
    assert client.post(reverse("finance:focus_rule_delete", args=[rule.pk])).status_code == 404
    assert AllocationRule.objects.filter(pk=rule.pk).exists()


def test_upload_a_rule_and_the_allocated_result_on_the_money_tab(
    client, finance, initiative_a, run_jobs_inline, django_capture_on_commit_callbacks
):
    tags = {"ai-initiative": initiative_a.code}
    rows = [
        fd.line("40.00", tags={"team": "claims"}, resource="i-claims"),
        fd.token_line("6.00", model="claude-sonnet", token_type="input", tokens="2000", tags=tags),
        fd.token_line("9.00", model="claude-sonnet", token_type="output", tokens="600", tags=tags),
    ]
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("finance:focus_index"),
            {"file": io.BytesIO(fd.csv_bytes(rows)), "focus_version": ""},
        )
    job = Job.objects.get(kind="focus_import")
    assert response.url == reverse("people:job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert job.report["rows"]["added"] == 3
    # Nothing allocated yet: all of it is on the unallocated page.
    page = client.get(reverse("finance:focus_unallocated")).content.decode()
    assert "i-claims" not in page  # tagged, so not among the untagged resources
    assert FocusLine.objects.filter(initiative__isnull=True).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("finance:focus_rules"),
            {"name": "by code", "priority": 10, "tag_key": "ai-initiative", "active": "on"},
        )
        client.post(
            reverse("finance:focus_rules"),
            {
                "name": "claims team",
                "priority": 20,
                "tag_key": "team",
                "tag_value": "claims",
                "initiative": initiative_a.pk,
                "active": "on",
            },
        )
    assert FocusLine.objects.filter(initiative=initiative_a).count() == 3
    # One posting: same provider, month, kind (usage-based), category (compute) and charge
    # category; AI and compute both map to compute in the default table.
    assert list(
        SpendEntry.objects.filter(source="focus", initiative=initiative_a).values_list(
            "amount", "kind", "category"
        )
    ) == [(D("55.00"), "operational", "compute")]

    page = client.get(
        reverse("initiative_detail", args=[initiative_a.pk]), {"tab": "money"}
    ).content.decode()
    assert "claude-sonnet" in page
    assert "2,600,000" in page  # tokens: (2000 + 600) thousand


def test_a_new_rule_claims_existing_lines_without_reimport(finance, initiative_a):
    focus_import(
        acting_user=finance,
        file=io.BytesIO(fd.csv_bytes([fd.line("10", sub_account="acct-7")])),
        filename="b.csv",
    )
    assert FocusLine.objects.get().initiative is None
    allocation_rule_create(
        acting_user=finance, name="a", sub_account_id="acct-7", initiative=initiative_a
    )
    job = Job.objects.create(kind="focus_reallocate", requested_by=finance)
    focus_reallocate_task(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded"
    line = FocusLine.objects.get()
    assert (line.initiative, line.business_unit_id, line.rule_version) == (
        initiative_a,
        initiative_a.business_unit_id,
        1,
    )
    assert SpendEntry.objects.get(source="focus").amount == D("10.00")
    # Running again changes nothing.
    assert allocation_run(acting_user=finance) == {
        "lines_changed": 0,
        "postings": {"created": 0, "updated": 0, "deleted": 0},
    }


def test_editing_a_rule_bumps_its_version_and_moves_the_money(
    client, finance, initiative_a, initiative_b, run_jobs_inline, django_capture_on_commit_callbacks
):
    focus_import(
        acting_user=finance,
        file=io.BytesIO(fd.csv_bytes([fd.line("10", sub_account="acct-7")])),
        filename="b.csv",
    )
    rule = allocation_rule_create(
        acting_user=finance, name="a", sub_account_id="acct-7", initiative=initiative_a
    )
    allocation_run(acting_user=finance)
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("finance:focus_rule_edit", args=[rule.pk]),
            {
                "name": "a",
                "priority": 5,
                "sub_account_id": "acct-7",
                "initiative": initiative_b.pk,
                "active": "on",
            },
        )
    rule.refresh_from_db()
    assert rule.version == 2
    assert FocusLine.objects.get().rule_version == 2
    entry = SpendEntry.objects.get(source="focus")
    assert (entry.initiative, entry.business_unit_id) == (
        initiative_b,
        initiative_b.business_unit_id,
    )


def test_unallocated_lines_are_never_shown_to_unit_roles(lead_a, finance, initiative_a):
    f.FocusLineFactory(initiative=None)
    own = f.FocusLineFactory(initiative=initiative_a)
    assert list(FocusLine.objects.visible_to(lead_a)) == [own]
    assert FocusLine.objects.visible_to(finance).count() == 2


def test_unallocated_page_shows_totals_and_top_untagged_resources(client, finance):
    for cost, resource in (("5", "small-box"), ("70", "big-box")):
        f.FocusLineFactory(initiative=None, effective_cost=D(cost), resource_id=resource, tags={})
    f.FocusLineFactory(initiative=None, effective_cost=D("1"), tags={"team": "x"})
    client.force_login(finance)
    page = client.get(reverse("finance:focus_unallocated")).content.decode()
    assert page.index("big-box") < page.index("small-box")
    assert "USD 76" in page


def test_unallocated_page_query_count_is_flat(client, finance):
    client.force_login(finance)

    def count(n):
        while FocusLine.objects.count() < n:
            f.FocusLineFactory(initiative=None, resource_id=f"r{FocusLine.objects.count()}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("finance:focus_unallocated")).status_code == 200
        return len(queries)

    assert count(5) == count(50)


def test_finance_home_shows_ai_spend_by_provider(client, finance, initiative_a):
    f.FocusLineFactory(initiative=initiative_a, provider="Microsoft Azure", effective_cost=D("30"))
    f.FocusLineFactory(initiative=None, provider="AWS", effective_cost=D("12.5"))
    client.force_login(finance)
    page = client.get(reverse("finance:index")).content.decode()
    assert "AI-service spend by provider" in page
    assert "Microsoft Azure" in page and "USD 30" in page


def test_unit_lead_sees_only_own_ai_spend_on_finance_home(
    client, lead_b, initiative_a, initiative_b
):
    f.FocusLineFactory(initiative=initiative_a, provider="Google Cloud")
    f.FocusLineFactory(initiative=initiative_b, provider="AWS")
    client.force_login(lead_b)
    page = client.get(reverse("finance:index")).content.decode()
    assert "Google Cloud" not in page and "AWS" in page


# --- API ---------------------------------------------------------------------------------------


def test_api_import_runs_the_job_and_answers_202(
    client, finance, run_jobs_inline, django_capture_on_commit_callbacks
):
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("v1:focusline-import-file"),
            {"file": io.BytesIO(fd.gzip_bytes([fd.line("2")]))},
        )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert job.status == "succeeded"
    assert FocusLine.objects.count() == 1


def test_api_import_is_refused_to_unit_roles_and_pmo(client, lead_a, pmo):
    for user in (lead_a, pmo):
        client.force_login(user)
        response = client.post(
            reverse("v1:focusline-import-file"), {"file": io.BytesIO(fd.csv_bytes([fd.line("2")]))}
        )
        assert response.status_code == 403
    assert not Job.objects.exists()


def test_api_lines_hide_other_units_and_unallocated_lines(
    client, lead_b, initiative_a, initiative_b
):
    mine = f.FocusLineFactory(initiative=initiative_b)
    other = f.FocusLineFactory(initiative=initiative_a)
    f.FocusLineFactory(initiative=None)
    client.force_login(lead_b)
    rows = client.get(reverse("v1:focusline-list")).json()["results"]
    assert [r["id"] for r in rows] == [mine.pk]
    assert client.get(reverse("v1:focusline-detail", args=[other.pk])).status_code == 404


def test_import_task_reports_a_refused_file(finance):
    from django.core.files.base import ContentFile

    job = Job(kind="focus_import", requested_by=finance, params={"filename": "x.csv"})
    job.input_file.save("x.csv", ContentFile(b"a,b\n1,2\n"), save=False)
    job.save()
    focus_import_task(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "not a FOCUS cost and usage file" in job.message


def test_the_demo_year_of_cloud_bills_is_mostly_allocated_some_not(finance, unit_a):
    import datetime as dt

    from finance.focus.demo import seed_focus_demo

    initiatives = [f.InitiativeFactory(business_unit=unit_a) for _ in range(4)]
    seed_focus_demo(acting_user=finance, initiatives=initiatives, today=dt.date(2026, 11, 20))
    lines = FocusLine.objects.all()
    months = {d.month for d in lines.values_list("billing_period_start", flat=True)}
    assert len(months) == 12
    unallocated = lines.filter(initiative__isnull=True).count()
    assert 0 < unallocated < lines.count() * 0.3
    assert lines.exclude(token_count=None).exists()
    assert lines.filter(charge_category="Credit").exists()
    assert SpendEntry.objects.filter(source="focus").exists()


def test_the_service_category_table_and_cost_basis_drive_the_postings(
    client, finance, initiative_a, run_jobs_inline, django_capture_on_commit_callbacks
):
    focus_import(
        acting_user=finance,
        file=io.BytesIO(
            fd.csv_bytes(
                [fd.line("10", effective="8", sub_account="acct-7", service_category="Storage")]
            )
        ),
        filename="b.csv",
    )
    allocation_rule_create(
        acting_user=finance, name="a", sub_account_id="acct-7", initiative=initiative_a
    )
    allocation_run(acting_user=finance)
    entry = SpendEntry.objects.get(source="focus")
    assert (entry.category, entry.amount) == ("data", D("8.00"))  # default table, EffectiveCost
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("finance:focus_settings"),
            {"action": "category", "service_category": "Storage", "cost_category": "tooling"},
        )
        client.post(reverse("finance:focus_settings"), {"action": "basis", "cost_basis": "billed"})
    entry = SpendEntry.objects.get(source="focus")
    assert (entry.category, entry.amount) == ("tooling", D("10.00"))


@pytest.mark.parametrize(
    "name,make",
    [
        ("finance:focus_rules", lambda: f.AllocationRuleFactory()),
        ("finance:focus_index", lambda: f.FocusImportFactory()),
    ],
)
def test_list_pages_query_count_is_flat(name, make, client, finance):
    client.force_login(finance)

    def count(n):
        for _ in range(n):
            make()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(name)).status_code == 200
        return len(queries)

    count(1)
    assert count(5) == count(45)
