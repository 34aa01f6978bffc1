"""The append-only audit trail: who changed what, for every code path."""

import pytest
from django.db import DatabaseError, connection, transaction
from pghistory.models import Events

from people.audit import acting_as
from portfolio.models import Initiative, StageTransition
from portfolio.services import stage_decide

pytestmark = pytest.mark.django_db


def events_for(obj):
    return Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")


def test_an_update_is_recorded_with_actor_and_field_diff(pmo, initiative_a):
    with acting_as(pmo):
        initiative_a.name = "Claims triage v2"
        initiative_a.save()
    update = events_for(initiative_a).filter(pgh_label="update").get()
    assert update.pgh_diff["name"] == ["Claims triage", "Claims triage v2"]
    assert update.pgh_context["user"] == pmo.pk


def test_a_bulk_update_is_recorded_for_every_row(pmo, initiative_a, initiative_b):
    with acting_as(pmo):
        changed = Initiative.objects.filter(pk__in=[initiative_a.pk, initiative_b.pk]).update(
            status=Initiative.Status.ON_HOLD
        )
    assert changed == 2
    for initiative in (initiative_a, initiative_b):
        update = events_for(initiative).filter(pgh_label="update").get()
        assert update.pgh_diff["status"] == ["active", "on_hold"]
        assert update.pgh_context["user"] == pmo.pk


def test_a_delete_is_recorded(pmo, unit_a):
    from tests.factories import InitiativeFactory

    doomed = InitiativeFactory(business_unit=unit_a)
    pk = doomed.pk
    with acting_as(pmo):
        doomed.delete()
    assert (
        Initiative.pgh_event_models["delete"]
        .objects.filter(pgh_obj_id=pk, pgh_label="delete")
        .count()
        == 1
    )


def _event_table(model) -> str:
    return model.pgh_event_models["update"]._meta.db_table


def test_database_refuses_to_update_an_audit_row(pmo, initiative_a):
    with acting_as(pmo):
        initiative_a.name = "changed"
        initiative_a.save()
    table = _event_table(Initiative)
    with (
        pytest.raises(DatabaseError, match="append_only|permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET name = 'forged'")


def test_database_refuses_to_delete_an_audit_row(initiative_a):
    table = _event_table(Initiative)
    with (
        pytest.raises(DatabaseError, match="append_only|permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table}")


def test_stage_history_is_append_only(pmo, initiative_a):
    transition = stage_decide(
        acting_user=pmo, initiative=initiative_a, decision="hold", rationale="Wait."
    )
    with pytest.raises(DatabaseError, match="stage_history_append_only"), transaction.atomic():
        StageTransition.objects.filter(pk=transition.pk).update(rationale="rewritten")
    with pytest.raises(DatabaseError, match="stage_history_append_only"), transaction.atomic():
        StageTransition.objects.filter(pk=transition.pk).delete()


@pytest.mark.parametrize(
    "label",
    [
        "people.BusinessUnit",
        "people.UnitMembership",
        "portfolio.Initiative",
        "portfolio.Assignment",
        "portfolio.StageTransition",
        "portfolio.KPI",
        "portfolio.Measurement",
        "finance.Budget",
        "finance.SpendEntry",
        "governance.ModelVersion",
        "governance.RiskAssessment",
        "governance.ControlAttestation",
        "governance.FairnessAudit",
        "governance.Incident",
        "governance.AccessReview",
        "governance.AccessReviewItem",
    ],
)
def test_every_governed_model_is_tracked(label):
    from django.apps import apps

    model = apps.get_model(label)
    assert set(getattr(model, "pgh_event_models", {})) >= {"insert", "update", "delete"}, label
