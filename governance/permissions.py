"""Governance actions a page may offer (see ``people.permissions``). Each check is the one
its view asks, and mirrors what the service will accept."""

from __future__ import annotations

from governance.models import AISystem, GateReview, Incident, ModelVersion
from people.permissions import register
from portfolio.models import Initiative
from portfolio.services import can_decide_gate


def _edits_initiative(user, initiative_id: int) -> bool:
    return Initiative.objects.editable_by(user).filter(pk=initiative_id).exists()


@register("governance.read_audit_log")
def read_audit_log(user) -> bool:
    from governance.selectors import can_read_audit_log

    return can_read_audit_log(user)


@register("governance.import_inventory")
def import_inventory(user) -> bool:
    from governance.inventory_views import _is_pmo  # the rule the upload view applies

    return _is_pmo(user)


@register("governance.add_record")
def add_record(user) -> bool:
    """Add a register record (risk, control, fairness, explainability, incident, AI
    system): the user edits at least one initiative it could belong to."""
    return Initiative.objects.editable_by(user).exists()


@register("governance.edit_record")
def edit_record(user, obj) -> bool:
    return type(obj).objects.editable_by(user).filter(pk=obj.pk).exists()


@register("governance.add_model_version")
def add_model_version(user, ai_system: AISystem | None = None) -> bool:
    qs = AISystem.objects.editable_by(user)
    return (qs.filter(pk=ai_system.pk) if ai_system is not None else qs).exists()


@register("governance.edit_model_version")
def edit_model_version(user, mv: ModelVersion) -> bool:
    """A version in production or retired is history, not edited."""
    if mv.status in (ModelVersion.Status.PRODUCTION, ModelVersion.Status.RETIRED):
        return False
    return ModelVersion.objects.editable_by(user).filter(pk=mv.pk).exists()


@register("governance.assess_risk")
def assess_risk(user, initiative: Initiative | None = None) -> bool:
    if initiative is None:
        return Initiative.objects.editable_by(user).exists()
    return _edits_initiative(user, initiative.pk)


@register("governance.update_incident")
def update_incident(user, incident: Incident) -> bool:
    """``incident_update`` writes through the initiative, so the user must edit it."""
    return _edits_initiative(user, incident.initiative_id)


@register("governance.acknowledge_incident")
def acknowledge_incident(user, incident: Incident) -> bool:
    """``incident_acknowledge``'s own check (the escalation path); the page shows the
    button only while the incident is not yet acknowledged."""
    from governance.services import may_acknowledge_incident

    return may_acknowledge_incident(user, incident)


@register("governance.request_gate_review")
def request_gate_review(user, initiative: Initiative) -> bool:
    return _edits_initiative(user, initiative.pk)


@register("governance.recheck_gate_review")
def recheck_gate_review(user, review: GateReview) -> bool:
    return review.status == GateReview.Status.OPEN and (
        _edits_initiative(user, review.initiative_id) or can_decide_gate(user, review.initiative)
    )


@register("governance.decide_gate_review")
def decide_gate_review(user, review: GateReview) -> bool:
    """The review is open and the user is an allowed decider for it (not its requester,
    not the requirements owner): the rule ``gate_decide`` applies."""
    from governance.gate_views import _decider_problem

    return review.status == GateReview.Status.OPEN and not _decider_problem(user, review)
