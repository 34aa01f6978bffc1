"""Read-only selectors for the governance jobs: overdue reviews and expiring evidence.

Same shape as ``portfolio.findings``: each takes the day to judge against and returns
``Finding`` rows; recipients beyond the unit's leads are the people named on the record
(risk owner, operator, system owner). Computed in the database.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce

from governance import selectors
from governance.models import (
    AccessReview,
    ControlAttestation,
    FairnessAudit,
    Incident,
    ModelVersion,
    RiskAssessment,
)
from people.roles import PMO
from portfolio.choices import END_STAGES, Stage
from portfolio.findings import (
    DateAddDays,
    Finding,
    ids,
    initiative_url,
    local_date,
    record_url,
    role_user,
)
from portfolio.models import Assignment

Role = Assignment.Role


VIEW_NAMES = {
    "riskassessment": "governance:risk_assessment_detail",
    "controlattestation": "governance:attestation_detail",
    "fairnessaudit": "governance:fairness_audit_detail",
    "incident": "governance:incident_detail",
    "modelversion": "governance:model_version_detail",
    "accessreview": "governance:access_review_detail",
}


def _url(model_name: str, pk: int, initiative_id: int | None = None) -> str:
    """The record's own page; else its initiative's page; else its admin page."""
    views = [(VIEW_NAMES[model_name], (pk,))]
    if initiative_id:
        return record_url(views, None) or initiative_url(initiative_id)
    return record_url(views, ("governance", model_name, pk))


def _system_reader():
    """An unsaved superuser: lets a background job read every unit through the same
    ``visible_to`` selectors the pages use. Never saved, never signed in."""
    return get_user_model()(username="periodic-jobs", is_superuser=True, is_active=True)


def stalled_initiatives(*, today: dt.date) -> list[Finding]:
    """Initiatives past their stage's limit or inactive for the stage's inactivity
    period, by governance's stall rule (``governance.selectors.stalled_initiatives``),
    judged at the start of ``today`` (so a limit of N days from day D is breached on
    D + N + 1, as in the other scans). Told to the unit's leads, the accountable
    executive and the PMO (a portfolio-wide concern)."""
    rows = (
        selectors.stalled_initiatives(_system_reader(), today=today)
        .annotate(accountable=role_user(Role.ACCOUNTABLE_EXECUTIVE, "pk"))
        .order_by("business_unit_id", "code")
        .values(
            "pk",
            "code",
            "name",
            "stage",
            "business_unit_id",
            "stage_entered_at",
            "limit_days",
            "inactivity_days",
            "days_in_stage",
            "days_idle",
            "past_limit",
            "inactive",
            "stall_review_open",
            "accountable",
        )
    )
    labels = dict(Stage.choices)
    findings = []
    for r in rows:
        reasons = []
        if r["past_limit"]:
            reasons.append(
                f"{r['days_in_stage']} days in {labels[r['stage']].lower()} "
                f"(limit {r['limit_days']})"
            )
        if r["inactive"]:
            reasons.append(f"no activity for {r['days_idle']} days (limit {r['inactivity_days']})")
        if r["stall_review_open"]:
            reasons.append("a stall review awaits its decision")
        findings.append(
            Finding(
                kind="stalled_initiative",
                key=f"stalled:{r['pk']}:{r['stage']}",
                business_unit_id=r["business_unit_id"],
                title=f"{r['code']} {r['name']} is stalled",
                body="; ".join(reasons).capitalize() + ".",
                url=initiative_url(r["pk"]),
                user_ids=ids(r["accountable"]),
                groups=(PMO,),
            )
        )
    return findings


def overdue_risk_reviews(*, today: dt.date) -> list[Finding]:
    """Current (or reopened) risk assessments whose ``next_review_due`` has passed, on
    initiatives still alive."""
    rows = (
        RiskAssessment.objects.filter(
            status__in=[RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED],
            next_review_due__lt=today,
        )
        .exclude(initiative__stage__in=END_STAGES)
        .annotate(risk_owner=role_user(Role.RISK_OWNER))
        .order_by("business_unit_id", "next_review_due")
        .values(
            "pk",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "initiative__name",
            "next_review_due",
            "risk_owner",
            "assessor_id",
        )
    )
    return [
        Finding(
            kind="risk_review_overdue",
            key=f"risk_review_overdue:{r['pk']}:{r['next_review_due']:%Y%m%d}",
            business_unit_id=r["business_unit_id"],
            title=f"{r['initiative__code']}: risk review overdue",
            body=f"The risk assessment of {r['initiative__name']} was due for review on "
            f"{r['next_review_due']:%d %b %Y} ({(today - r['next_review_due']).days} days ago).",
            url=_url("riskassessment", r["pk"], r["initiative_id"]),
            user_ids=ids(r["risk_owner"]),
        )
        for r in rows
    ]


def expiring_attestations(*, today: dt.date, within_days: int | None = None) -> list[Finding]:
    """Attested controls that expire within ``JOBS_ATTESTATION_WARNING_DAYS`` (or have
    already expired), on initiatives still alive."""
    within = (
        within_days
        if within_days is not None
        else getattr(settings, "JOBS_ATTESTATION_WARNING_DAYS", 30)
    )
    horizon = today + dt.timedelta(days=within)
    rows = (
        ControlAttestation.objects.filter(
            status=ControlAttestation.Status.ATTESTED, expires_on__lte=horizon
        )
        .exclude(initiative__stage__in=END_STAGES)
        .annotate(operator=role_user(Role.OPERATOR), risk_owner=role_user(Role.RISK_OWNER))
        .order_by("business_unit_id", "expires_on")
        .values(
            "pk",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "control__code",
            "control__name",
            "expires_on",
            "operator",
            "risk_owner",
        )
    )
    findings = []
    for r in rows:
        expired = r["expires_on"] < today
        when = (
            f"expired on {r['expires_on']:%d %b %Y}"
            if expired
            else f"expires on {r['expires_on']:%d %b %Y}"
        )
        findings.append(
            Finding(
                kind="attestation_expiring",
                key=f"attestation_expiring:{r['pk']}:{r['expires_on']:%Y%m%d}",
                business_unit_id=r["business_unit_id"],
                title=f"{r['initiative__code']}: control {r['control__code']} attestation {when}",
                body=f"Renew the attestation of \u201c{r['control__name']}\u201d with fresh evidence.",
                url=_url("controlattestation", r["pk"], r["initiative_id"]),
                user_ids=ids(r["operator"], r["risk_owner"]),
            )
        )
    return findings


def overdue_fairness_remediations(*, today: dt.date) -> list[Finding]:
    """Failed fairness audits past their ``remediation_due`` with no later passing audit
    of the same initiative and model version."""
    later_pass = FairnessAudit.objects.filter(
        initiative_id=OuterRef("initiative_id"),
        result=FairnessAudit.Result.PASS,
        audited_on__gt=OuterRef("audited_on"),
    ).filter(
        Q(model_version_id=OuterRef("model_version_id"))
        | Q(model_version__isnull=True, model_version_id__isnull=True)
    )
    rows = (
        FairnessAudit.objects.filter(result=FairnessAudit.Result.FAIL, remediation_due__lt=today)
        .exclude(initiative__stage__in=END_STAGES)
        .exclude(Exists(later_pass))
        .annotate(risk_owner=role_user(Role.RISK_OWNER))
        .order_by("business_unit_id", "remediation_due")
        .values(
            "pk",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "remediation_due",
            "risk_owner",
        )
    )
    return [
        Finding(
            kind="fairness_remediation_overdue",
            key=f"fairness_remediation_overdue:{r['pk']}",
            business_unit_id=r["business_unit_id"],
            title=f"{r['initiative__code']}: fairness remediation overdue",
            body=f"A failed fairness audit was to be remediated by {r['remediation_due']:%d %b %Y}.",
            url=_url("fairnessaudit", r["pk"], r["initiative_id"]),
            user_ids=ids(r["risk_owner"]),
        )
        for r in rows
    ]


def overdue_incident_reviews(*, today: dt.date) -> list[Finding]:
    """Incidents whose post-incident review is past ``review_due`` and not completed."""
    rows = (
        Incident.objects.filter(review_due__lt=today, review_completed_on__isnull=True)
        .annotate(operator=role_user(Role.OPERATOR))
        .order_by("business_unit_id", "review_due")
        .values(
            "pk",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "title",
            "severity",
            "review_due",
            "operator",
            "reported_by_id",
        )
    )
    return [
        Finding(
            kind="incident_review_overdue",
            key=f"incident_review_overdue:{r['pk']}",
            business_unit_id=r["business_unit_id"],
            title=f"{r['initiative__code']}: post-incident review overdue for \u201c{r['title']}\u201d",
            body=f"A {r['severity']} incident; its review was due on {r['review_due']:%d %b %Y}.",
            url=_url("incident", r["pk"], r["initiative_id"]),
            user_ids=ids(r["operator"]),
            urgent=r["severity"] == "critical",  # a critical incident cannot wait a week
        )
        for r in rows
    ]


def models_due_for_retraining(*, today: dt.date) -> list[Finding]:
    """Production model versions whose ``retrain_interval_days`` has passed since they
    were last validated (or deployed, or created)."""
    rows = (
        ModelVersion.objects.filter(
            status=ModelVersion.Status.PRODUCTION, retrain_interval_days__isnull=False
        )
        .annotate(
            since=local_date(Coalesce("last_validated_at", "deployed_at", "created_at")),
        )
        .annotate(due=DateAddDays(F("since"), F("retrain_interval_days")))
        .filter(due__lt=today)
        .annotate(operator=role_user(Role.OPERATOR, "ai_system__initiative_id"))
        .order_by("business_unit_id", "due")
        .values(
            "pk",
            "version",
            "business_unit_id",
            "ai_system__name",
            "ai_system__owner_id",
            "ai_system__initiative_id",
            "ai_system__initiative__code",
            "since",
            "retrain_interval_days",
            "operator",
        )
    )
    return [
        Finding(
            kind="model_retrain_due",
            key=f"model_retrain_due:{r['pk']}:{r['since']:%Y%m%d}",
            business_unit_id=r["business_unit_id"],
            title=f"{r['ai_system__initiative__code']}: {r['ai_system__name']} {r['version']} "
            f"is due for retraining or revalidation",
            body=f"Last validated or deployed on {r['since']:%d %b %Y}; the interval is "
            f"{r['retrain_interval_days']} days.",
            url=_url("modelversion", r["pk"], r["ai_system__initiative_id"]),
            user_ids=ids(r["ai_system__owner_id"], r["operator"]),
        )
        for r in rows
    ]


def open_access_reviews(*, today: dt.date) -> list[Finding]:
    """Open access review campaigns: the reviewer is told once a week until they close
    it (overdue ones say so)."""
    rows = (
        AccessReview.objects.filter(status=AccessReview.Status.OPEN)
        .order_by("business_unit_id", "due_on")
        .values("pk", "name", "business_unit_id", "reviewer_id", "due_on")
    )
    findings = []
    for r in rows:
        overdue = r["due_on"] < today
        findings.append(
            Finding(
                kind="access_review_open",
                key=f"access_review_open:{r['pk']}",
                business_unit_id=r["business_unit_id"],
                title=f"Access review \u201c{r['name']}\u201d "
                + ("is overdue" if overdue else f"is due by {r['due_on']:%d %b %Y}"),
                body="Keep or revoke each membership listed in the campaign.",
                url=_url("accessreview", r["pk"]),
                user_ids=ids(r["reviewer_id"]),
            )
        )
    return findings


def lapsed_gate_criteria(*, today: dt.date) -> list[Finding]:
    """Criteria of the gate an initiative passed into its current stage that no longer
    hold (``governance.services.gate_criteria_recheck`` runs first, so the open lapses
    are today's). Told to the unit's leads, the requirements owner, the operator and the
    PMO; an expired waiver reopens its criterion the same way."""
    from governance.models import CriterionLapse
    from governance.services import gate_criteria_recheck

    gate_criteria_recheck(today=today)
    rows = (
        CriterionLapse.objects.filter(resolved_on__isnull=True)
        .exclude(initiative__stage__in=END_STAGES)
        .annotate(owner=role_user(Role.REQUIREMENTS_OWNER), operator=role_user(Role.OPERATOR))
        .order_by("business_unit_id", "initiative_id", "code")
        .values(
            "pk",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "code",
            "name",
            "reason",
            "detected_on",
            "owner",
            "operator",
        )
    )
    return [
        Finding(
            kind="gate_criterion_lapsed",
            key=f"gate_criterion_lapsed:{r['pk']}",
            business_unit_id=r["business_unit_id"],
            title=f"{r['initiative__code']}: gate criterion {r['code']} no longer met",
            body=f"\u201c{r['name']}\u201d held when the gate was passed. {r['reason']}",
            url=initiative_url(r["initiative_id"]),
            user_ids=ids(r["owner"], r["operator"]),
            groups=(PMO,),
        )
        for r in rows
    ]
