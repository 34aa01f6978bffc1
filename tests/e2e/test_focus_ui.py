"""Finance walks through a FOCUS cloud bill: upload, the unallocated spend, a rule, and the
allocated result (spend and AI tokens) on the initiative's money tab."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.finance import focus_data as fd

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def jobs_run_inline(monkeypatch):
    """The upload and the rule enqueue jobs: run them when the request commits (no worker
    in this test; the worker round trip is tested in tests/finance)."""
    from django.db import transaction

    import finance.focus.views as views

    def enqueue(job, task, *args):
        transaction.on_commit(lambda: task(job.pk, *args))

    monkeypatch.setattr(views, "job_enqueue", enqueue)


def test_finance_uploads_a_bill_adds_a_rule_and_sees_it_on_the_money_tab(
    finance, initiative_a, sign_in, jobs_run_inline, tmp_path, screenshot
):
    tags = {"ai-initiative": initiative_a.code}
    bill = tmp_path / "aws-2026-05.csv"
    bill.write_bytes(
        fd.csv_bytes(
            [
                fd.line("120.00", resource="i-untagged-1"),
                fd.token_line(
                    "30.00", model="claude-sonnet", token_type="input", tokens="9000", tags=tags
                ),
                fd.token_line(
                    "45.00", model="claude-sonnet", token_type="output", tokens="1500", tags=tags
                ),
            ]
        )
    )
    page = sign_in(finance)
    page.goto("/finance/focus/")
    page.get_by_label("File").set_input_files(str(bill))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("3 rows: 3 added, 0 removed, 0 changed, 0 unchanged")).to_be_visible()

    page.goto("/finance/focus/unallocated/")
    expect(page.locator("[data-unallocated-total]")).to_have_text("USD 195")
    expect(
        page.get_by_role("table", name="Untagged resources with the most unallocated spend")
    ).to_contain_text("i-untagged-1")
    screenshot("focus-unallocated")

    page.goto("/finance/focus/rules/")
    page.locator("#id_name").fill("Initiative tag")
    page.locator("#id_priority").fill("10")
    page.locator("#id_tag_key").fill("ai-initiative")
    page.get_by_role("button", name="Save and re-allocate").click()
    expect(page.get_by_text("2 lines re-allocated")).to_be_visible()

    page.goto("/finance/focus/unallocated/")
    expect(page.locator("[data-unallocated-total]")).to_have_text("USD 120")

    page.goto(f"/initiatives/{initiative_a.pk}/?tab=money")
    usage = page.get_by_role("table", name="Token spend and volume per month and model")
    expect(usage).to_contain_text("claude-sonnet")
    expect(usage).to_contain_text("10,500,000")
    expect(
        page.get_by_role("table", name="Budget versus actual by kind and category")
    ).to_contain_text("USD 75")
    screenshot("focus-money-tab")
