"""Initiative pages: scoped list, filters, exports, detail tabs, create/edit, measurements."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from portfolio.models import Initiative, Measurement
from tests.factories import (
    AssignmentFactory,
    InitiativeFactory,
    KPIFactory,
    StageTransitionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_lead_a(client, lead_a):
    client.force_login(lead_a)
    return client


@pytest.fixture
def as_lead_b(client, lead_b):
    client.force_login(lead_b)
    return client


def test_unit_lead_sees_own_units_initiatives_including_child_units_but_not_others(
    as_lead_a, initiative_a, initiative_a_child, initiative_b
):
    response = as_lead_a.get(reverse("initiative_list"))
    assert response.status_code == 200
    codes = {i.code for i in response.context["page_obj"]}
    assert codes == {"AI-A-1", "AI-A-2"}
    assert b"AI-B-1" not in response.content


def test_initiative_list_filters_by_stage_and_search(as_lead_a, unit_a):
    InitiativeFactory(code="AI-X-1", name="Fraud radar", business_unit=unit_a)
    InitiativeFactory(
        code="AI-X-2", name="Chat assist", business_unit=unit_a, stage="initial_production"
    )
    response = as_lead_a.get(reverse("initiative_list"), {"stage": "initial_production"})
    assert [i.code for i in response.context["page_obj"]] == ["AI-X-2"]
    response = as_lead_a.get(reverse("initiative_list"), {"q": "fraud"})
    assert [i.code for i in response.context["page_obj"]] == ["AI-X-1"]


def test_initiative_list_filter_by_owner_and_sort_by_name_descending(as_lead_a, unit_a, member_a):
    first = InitiativeFactory(code="AI-X-1", name="Alpha", business_unit=unit_a)
    InitiativeFactory(code="AI-X-2", name="Beta", business_unit=unit_a)
    AssignmentFactory(initiative=first, user=member_a, role="requirements_owner")
    response = as_lead_a.get(reverse("initiative_list"), {"owner": member_a.pk})
    rows = list(response.context["page_obj"])
    assert [i.code for i in rows] == ["AI-X-1"]
    assert rows[0].owner_name == member_a.get_full_name()
    response = as_lead_a.get(reverse("initiative_list"), {"sort": "-name"})
    assert [i.name for i in response.context["page_obj"]] == ["Beta", "Alpha"]


def test_unit_filter_offers_only_visible_units(as_lead_a, unit_a, unit_a_child, unit_b):
    response = as_lead_a.get(reverse("initiative_list"))
    choices = {u.code for u in response.context["filter"].form.fields["business_unit"].queryset}
    assert choices == {"RETAIL", "CARDS"}
    # Asking for unit B by id through the URL is rejected by the form, not answered.
    response = as_lead_a.get(reverse("initiative_list"), {"business_unit": unit_b.pk})
    assert response.context["filter"].errors


def test_csv_export_has_the_filtered_rows_and_never_another_units(
    as_lead_a, unit_a, initiative_a, initiative_a_child, initiative_b
):
    InitiativeFactory(
        code="AI-A-9", name="=HYPERLINK(evil)", business_unit=unit_a, stage="scaled_deployment"
    )
    response = as_lead_a.get(reverse("initiative_export", args=["csv"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "Code"
    assert {r[0] for r in rows[1:]} == {"AI-A-1", "AI-A-2", "AI-A-9"}
    assert "'=HYPERLINK(evil)" in body  # formula injection neutralised
    filtered = as_lead_a.get(
        reverse("initiative_export", args=["csv"]), {"stage": "scaled_deployment"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["AI-A-9"]


def test_xlsx_export_has_the_visible_rows(as_lead_b, initiative_a, initiative_b):
    response = as_lead_b.get(reverse("initiative_export", args=["xlsx"]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    codes = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert codes == ["AI-B-1"]


def test_export_in_an_unknown_format_is_not_found(as_lead_a):
    assert as_lead_a.get(reverse("initiative_export", args=["pdf"])).status_code == 404


@pytest.mark.parametrize(
    "tab", ["overview", "stages", "outcomes", "money", "governance", "history"]
)
def test_every_detail_tab_renders_for_the_unit_lead(as_lead_a, initiative_a, tab):
    KPIFactory(initiative=initiative_a)
    StageTransitionFactory(initiative=initiative_a, rationale="Targets met in the pilot.")
    response = as_lead_a.get(reverse("initiative_detail", args=[initiative_a.pk]), {"tab": tab})
    assert response.status_code == 200
    assert response.context["tab"] == tab


def test_stage_history_shows_decisions_with_their_rationale(as_lead_a, initiative_a):
    StageTransitionFactory(initiative=initiative_a, rationale="Pilot saved 300 hours a month.")
    response = as_lead_a.get(
        reverse("initiative_detail", args=[initiative_a.pk]), {"tab": "stages"}
    )
    assert b"Pilot saved 300 hours a month." in response.content


def test_other_units_lead_gets_404_on_detail_edit_and_measurement(as_lead_b, initiative_a):
    kpi = KPIFactory(initiative=initiative_a)
    assert as_lead_b.get(reverse("initiative_detail", args=[initiative_a.pk])).status_code == 404
    assert as_lead_b.get(reverse("initiative_edit", args=[initiative_a.pk])).status_code == 404
    response = as_lead_b.post(
        reverse("measurement_create", args=[initiative_a.pk]),
        {"kpi": kpi.pk, "measured_on": "2026-11-01", "value": "5"},
    )
    assert response.status_code == 404
    assert not Measurement.objects.exists()


def test_not_found_page_says_what_happened_in_plain_words(as_lead_b, initiative_a):
    response = as_lead_b.get(reverse("initiative_detail", args=[initiative_a.pk]))
    assert b"We could not find that page" in response.content


def test_viewer_can_read_but_gets_403_on_edit(client, viewer_a, initiative_a):
    client.force_login(viewer_a)
    assert client.get(reverse("initiative_detail", args=[initiative_a.pk])).status_code == 200
    response = client.get(reverse("initiative_edit", args=[initiative_a.pk]))
    assert response.status_code == 403
    assert b"You are not allowed to do this" in response.content


def test_unit_lead_creates_an_initiative_in_own_unit(as_lead_a, unit_a):
    response = as_lead_a.post(
        reverse("initiative_create"),
        {
            "code": "ai-new-1",
            "name": "Invoice matching",
            "business_unit": unit_a.pk,
            "build_or_buy": "build",
            "integration_depth": "standalone",
            "risk_tier": "minimal",
            "uses_pii": "unknown",
            "uses_demographics": "unknown",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    created = Initiative.objects.get(code="AI-NEW-1")
    assert created.business_unit == unit_a and created.stage == "proof_of_concept"


def test_create_form_offers_only_editable_units_and_rejects_another_unit(
    as_lead_a, unit_a, unit_a_child, unit_b
):
    response = as_lead_a.get(reverse("initiative_create"))
    units = {u.code for u in response.context["form"].fields["business_unit"].queryset}
    assert units == {"RETAIL", "CARDS"}
    response = as_lead_a.post(
        reverse("initiative_create"),
        {
            "code": "AI-Z",
            "name": "Sneaky",
            "business_unit": unit_b.pk,
            "build_or_buy": "build",
            "integration_depth": "standalone",
            "risk_tier": "minimal",
        },
    )
    assert response.status_code == 200
    assert "business_unit" in response.context["form"].errors
    assert not Initiative.objects.filter(code="AI-Z").exists()


def test_create_form_shows_field_level_errors(as_lead_a, initiative_a):
    response = as_lead_a.post(reverse("initiative_create"), {"code": "AI-A-1", "name": ""})
    form = response.context["form"]
    assert "already used" in form.errors["code"][0]
    assert "name" in form.errors
    assert b'aria-invalid="true"' in response.content


def test_outsider_cannot_open_the_create_form(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("initiative_create")).status_code == 403


def test_unit_lead_edits_an_initiative(as_lead_a, initiative_a):
    response = as_lead_a.post(
        reverse("initiative_edit", args=[initiative_a.pk]),
        {
            "code": "AI-A-1",
            "name": "Claims triage v2",
            "business_unit": initiative_a.business_unit_id,
            "build_or_buy": "buy",
            "integration_depth": "embedded",
            "risk_tier": "high",
        },
    )
    assert response.status_code == 302
    initiative_a.refresh_from_db()
    # The tier comes from the current risk assessment, never from this form.
    assert initiative_a.name == "Claims triage v2" and initiative_a.risk_tier == "unassessed"


def test_member_records_a_kpi_measurement(client, member_a, initiative_a):
    kpi = KPIFactory(initiative=initiative_a)
    client.force_login(member_a)
    response = client.post(
        reverse("measurement_create", args=[initiative_a.pk]),
        {"kpi": kpi.pk, "measured_on": "2026-11-01", "value": "412.5", "note": "October"},
    )
    assert response.status_code == 302
    m = Measurement.objects.get(kpi=kpi)
    assert m.value == Decimal("412.5") and m.recorded_by == member_a


def test_measurement_in_the_future_is_refused_with_a_field_error(as_lead_a, initiative_a):
    kpi = KPIFactory(initiative=initiative_a)
    response = as_lead_a.post(
        reverse("measurement_create", args=[initiative_a.pk]),
        {"kpi": kpi.pk, "measured_on": "2999-01-01", "value": "1"},
    )
    assert response.status_code == 400
    assert "future" in response.context["measurement_form"].errors["measured_on"][0]
    assert not Measurement.objects.exists()


def test_viewer_cannot_record_a_measurement(client, viewer_a, initiative_a):
    kpi = KPIFactory(initiative=initiative_a)
    client.force_login(viewer_a)
    response = client.post(
        reverse("measurement_create", args=[initiative_a.pk]),
        {"kpi": kpi.pk, "measured_on": "2026-11-01", "value": "1"},
    )
    assert response.status_code == 403
    assert not Measurement.objects.exists()


def test_history_tab_lists_changes_to_the_initiative_and_its_records(
    as_lead_a, lead_a, initiative_a, initiative_b, django_assert_max_num_queries
):
    from finance.models import SpendEntry
    from people.audit import acting_as
    from tests.factories import SpendEntryFactory

    with acting_as(lead_a):
        SpendEntryFactory.create_batch(30, initiative=initiative_a)
        SpendEntryFactory(initiative=initiative_b, reference="OTHER")  # not this initiative's
        entry = SpendEntry.objects.filter(initiative=initiative_a).order_by("pk").first()
        SpendEntry.objects.filter(pk=entry.pk).update(amount=Decimal("99.00"))
    url = reverse("initiative_detail", args=[initiative_a.pk])
    with django_assert_max_num_queries(25):
        response = as_lead_a.get(url, {"tab": "history"})
    rows = response.context["history"]
    assert len(rows) == 32  # the initiative's insert, 30 postings' inserts, one update
    # One test transaction gives every event the same time, so find the update by label.
    (update,) = [r for r in rows if r.pgh_label == "update"]
    assert (update.model_name, update.actor) == ("Spend entry", lead_a)
    changes = {field: (old, new) for field, old, new in update.changes}
    assert [Decimal(str(v)) for v in changes["Amount"]] == [Decimal("1250"), Decimal("99")]
    assert sorted({r.model_name for r in rows}) == ["Initiative", "Spend entry"]
    assert [r.pgh_created_at for r in rows] == sorted(
        (r.pgh_created_at for r in rows), reverse=True
    )
