"""Every API resource, the same checks: cross-unit 404, read-only 403, bad input leaves
nothing written, and a list query count that does not grow with the rows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from people.scoping import forget_scope
from portfolio.api.urls import router
from tests import factories as f
from tests.api.cases import BY_NAME, CASES, _gate_review

pytestmark = pytest.mark.django_db

SCOPED = [c for c in CASES if c.make is not None and c.scoped]
LISTED = [c for c in CASES if c.make is not None]
WRITABLE = [c for c in CASES if c.create is not None]
PATCHABLE = [c for c in CASES if c.bad_patch is not None]
CROSS = [c for c in CASES if c.cross_create is not None]


def ids(cases):
    return [c.basename for c in cases]


def list_url(case):
    return reverse(f"v1:{case.basename}-list")


def detail_url(case, obj):
    return reverse(f"v1:{case.basename}-detail", args=[obj.pk])


def create_url(case):
    return reverse(f"v1:{case.basename}-{case.create_action}")


@pytest.fixture
def ctx(
    unit_a, unit_a_child, unit_b, initiative_a, initiative_b, lead_a, member_a, lead_b, pmo, auditor
):
    def spend_row(initiative, **overrides):
        row = {
            "reference": f"T-{initiative.pk}-1",
            "initiative": initiative.pk,
            "posted_on": "2026-11-02",
            "kind": "operational",
            "category": "compute",
            "amount": "120.50",
            "currency": "USD",
            "vendor": "Cloud Co",
        }
        row.update(overrides)
        return row

    ai_a = f.AISystemFactory(initiative=initiative_a)
    return SimpleNamespace(
        unit_a=unit_a,
        unit_b=unit_b,
        unit_a_child=unit_a_child,
        initiative_a=initiative_a,
        initiative_b=initiative_b,
        lead_a=lead_a,
        member_a=member_a,
        lead_b=lead_b,
        pmo=pmo,
        auditor=auditor,
        kpi_a=f.KPIFactory(initiative=initiative_a),
        kpi_b=f.KPIFactory(initiative=initiative_b),
        ai_system_a=ai_a,
        ai_system_b=f.AISystemFactory(initiative=initiative_b),
        control=f.ControlFactory(),
        open_review_a=_gate_review(
            unit_a, initiative=f.InitiativeFactory(business_unit=unit_a), requested_by=member_a
        ),
        spend_row=spend_row,
    )


def test_every_registered_endpoint_has_a_scoping_case():
    registered = {basename for _, _, basename in router.registry}
    assert registered == set(BY_NAME), (
        "Add a row to tests/api/cases.py for each new endpoint: "
        f"missing {registered - set(BY_NAME)}, stale {set(BY_NAME) - registered}"
    )


@pytest.mark.parametrize("case", SCOPED, ids=ids(SCOPED))
def test_unit_lead_of_other_unit_gets_404_on_unit_a_records(case, ctx, api):
    obj = case.make(ctx.unit_a)
    client = api(ctx.lead_b)
    assert client.get(detail_url(case, obj)).status_code == 404
    listed = client.get(list_url(case), {"limit": 500}).json()["results"]
    assert obj.pk not in {row["id"] for row in listed}
    if case.bad_patch is not None:
        response = client.patch(detail_url(case, obj), {}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("case", SCOPED, ids=ids(SCOPED))
def test_unit_lead_reads_own_unit_records_with_an_etag(case, ctx, api):
    obj = case.make(ctx.unit_a)
    response = api(ctx.lead_a).get(detail_url(case, obj))
    assert response.status_code == 200
    assert response.json()["id"] == obj.pk
    assert response["ETag"].startswith(f'"{obj.pk}-')


@pytest.mark.parametrize("case", WRITABLE, ids=ids(WRITABLE))
def test_auditor_cannot_create(case, ctx, api):
    before = case.model.objects.count()
    response = api(ctx.auditor).post(create_url(case), case.create(ctx), format="json")
    assert response.status_code == 403, response.json()
    assert response.json()["code"] == "permission_denied"
    assert case.model.objects.count() == before


@pytest.mark.parametrize("case", WRITABLE, ids=ids(WRITABLE))
def test_read_only_token_cannot_create(case, ctx, token_client):
    before = case.model.objects.count()
    client = token_client(getattr(ctx, case.writer), read_only=True)
    response = client.post(create_url(case), case.create(ctx), format="json")
    assert response.status_code == 403
    assert response.json()["message"] == "This token is read-only."
    assert case.model.objects.count() == before


@pytest.mark.parametrize("case", PATCHABLE, ids=ids(PATCHABLE))
def test_auditor_and_read_only_token_cannot_update(case, ctx, api, token_client):
    obj = case.make(ctx.unit_a)
    assert api(ctx.auditor).patch(detail_url(case, obj), {}, format="json").status_code == 403
    client = token_client(getattr(ctx, case.writer), read_only=True)
    assert client.patch(detail_url(case, obj), {}, format="json").status_code == 403


@pytest.mark.parametrize("case", WRITABLE, ids=ids(WRITABLE))
def test_writer_creates_a_record(case, ctx, api):
    before = case.model.objects.count()
    response = api(getattr(ctx, case.writer)).post(
        create_url(case), case.create(ctx), format="json"
    )
    assert response.status_code in (200, 201), response.json()
    assert case.model.objects.count() == before + 1


@pytest.mark.parametrize("case", WRITABLE, ids=ids(WRITABLE))
def test_create_with_bad_input_names_the_field_and_writes_nothing(case, ctx, api):
    body, field = case.bad_create(ctx)
    before = case.model.objects.count()
    response = api(getattr(ctx, case.writer)).post(create_url(case), body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["code"] == "invalid"
    assert field in payload["fields"], payload
    assert case.model.objects.count() == before


@pytest.mark.parametrize("case", CROSS, ids=ids(CROSS))
def test_create_linking_another_units_record_is_refused_as_a_field_error(case, ctx, api):
    body, field = case.cross_create(ctx)
    before = case.model.objects.count()
    response = api(ctx.lead_a).post(create_url(case), body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"], response.json()
    assert case.model.objects.count() == before


@pytest.mark.parametrize("case", PATCHABLE, ids=ids(PATCHABLE))
def test_update_with_bad_input_names_the_field_and_changes_nothing(case, ctx, api):
    obj = case.make(ctx.unit_a)
    body, field = case.bad_patch
    response = api(getattr(ctx, case.writer)).patch(detail_url(case, obj), body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    fresh = type(obj).objects.get(pk=obj.pk)
    assert fresh.updated_at == obj.updated_at


@pytest.mark.parametrize("case", LISTED, ids=ids(LISTED))
def test_list_query_count_does_not_grow_with_rows(case, ctx, api):
    client = api(ctx.lead_a)

    made = []

    def count_for(total):
        while len(made) < total:
            made.append(case.make(ctx.unit_a))
        forget_scope(ctx.lead_a)  # measure each request cold, as a new request would be
        with CaptureQueriesContext(connection) as queries:
            response = client.get(list_url(case), {"limit": 100})
        assert response.status_code == 200
        assert len(response.json()["results"]) >= total
        return len(queries)

    assert count_for(5) == count_for(50)


def _detail_actions():
    """Every custom action on a single record (approve, promote, decide, ...)."""
    out = []
    for _, viewset, basename in router.registry:
        for extra in viewset.get_extra_actions():
            if extra.detail:
                out.append((basename, extra.url_name))
    return out


DETAIL_ACTIONS = _detail_actions()


def test_every_custom_action_is_in_the_cross_unit_test():
    assert {basename for basename, _ in DETAIL_ACTIONS} <= {c.basename for c in SCOPED}
    assert len(DETAIL_ACTIONS) >= 5


@pytest.mark.parametrize(
    "basename,action", DETAIL_ACTIONS, ids=[f"{b}-{a}" for b, a in DETAIL_ACTIONS]
)
def test_custom_actions_on_another_units_record_are_404(basename, action, ctx, api):
    case = BY_NAME[basename]
    obj = case.make(ctx.unit_a)
    url = reverse(f"v1:{basename}-{action}", args=[obj.pk])
    before = type(obj).objects.get(pk=obj.pk).updated_at
    response = api(ctx.lead_b).post(url, {}, format="json")
    assert response.status_code == 404
    assert type(obj).objects.get(pk=obj.pk).updated_at == before


@pytest.mark.parametrize(
    "basename,action", DETAIL_ACTIONS, ids=[f"{b}-{a}" for b, a in DETAIL_ACTIONS]
)
def test_custom_actions_are_refused_to_the_auditor(basename, action, ctx, api):
    case = BY_NAME[basename]
    obj = case.make(ctx.unit_a)
    before = type(obj).objects.get(pk=obj.pk).updated_at
    response = api(ctx.auditor).post(
        reverse(f"v1:{basename}-{action}", args=[obj.pk]), {}, format="json"
    )
    assert response.status_code in (400, 403)  # 400 only where the body is checked first
    assert type(obj).objects.get(pk=obj.pk).updated_at == before
