"""Governance landing page and registers (list + detail + plain create/edit).

Every page scopes through ``visible_to`` (out of scope: 404) and writes through
``editable_by`` or a service (in scope, not allowed: 403). Gate reviews live in
``gate_views``, access reviews in ``access_views``, the audit log in ``audit_views``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from governance import filters, forms, selectors, services
from governance.models import (
    AccessReview,
    AISystem,
    ControlAttestation,
    ExplainabilityRecord,
    FairnessAudit,
    GateReview,
    Incident,
    ModelVersion,
    RiskAssessment,
    Standard,
)
from people.audit import acting_as
from people.permissions import can, require
from portfolio.models import Initiative
from portfolio.views.listing import paginate, sort_queryset


def _list(request, *, qs, filterset_class, sorts, default, template, **extra):
    f = filterset_class(request.GET, queryset=qs, request=request)
    page_obj = paginate(request, sort_queryset(f.qs, request, sorts, default=default))
    return render(request, template, {"filter": f, "page_obj": page_obj, **extra})


def _visible(request, qs, pk):
    return get_object_or_404(qs.visible_to(request.user), pk=pk)


def _can_add(user, model) -> bool:
    """May the user add records of ``model`` for at least one initiative?"""
    return Initiative.objects.editable_by(user).exists()


def _initiative_url(initiative) -> str:
    return reverse("initiative_detail", kwargs={"pk": initiative.pk})


def _detail(request, obj, *, title, fields, template="governance/record_detail.html", **extra):
    return render(
        request,
        template,
        {
            "object": obj,
            "title": title,
            "fields": fields,
            "history": selectors.object_history(obj),
            "can_edit": can(request.user, "governance.edit_record", obj),
            **extra,
        },
    )


def _save_form(request, form, *, success: str):
    """Save a plain CRUD form as the user, re-checking scope inside the transaction."""
    with transaction.atomic(), acting_as(request.user):
        obj = form.save()
        if not type(obj).objects.editable_by(request.user).filter(pk=obj.pk).exists():
            raise PermissionDenied("You may not change records of that unit.")
    messages.success(request, success)
    return obj


def _edit_view(request, *, model, form_class, pk, title, detail_name):
    """Create (pk None) or edit one plain record with its form."""
    user = request.user
    instance = None
    if pk is not None:
        instance = _visible(request, model.objects, pk)
        require(
            user, "governance.edit_record", instance, "You can see this record but not change it."
        )
    else:
        require(
            user,
            "governance.add_record",
            None,
            "You have no initiative you may add this record to.",
        )
    initial = {k: request.GET[k] for k in ("initiative", "ai_system") if request.GET.get(k)}
    form = form_class(request.POST or None, instance=instance, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        obj = _save_form(request, form, success=f"{title} saved.")
        return redirect(detail_name, pk=obj.pk)
    return render(
        request, "governance/record_form.html", {"form": form, "title": title, "object": instance}
    )


# --- Landing page ------------------------------------------------------------------------


def _mark_gate_links(user, initiatives) -> None:
    """``sees_gate`` on each row: whether its gate page is the user's to open (finance sees
    stalled initiatives but not gate reviews, and gets the initiative page instead)."""
    units = GateReview.objects.visible_unit_ids(user)
    for i in initiatives:
        i.sees_gate = units is None or i.business_unit_id in units


@login_required
def index(request):
    user = request.user
    today = timezone.localdate()
    blocked = list(selectors.blocked_gate_reviews(user).order_by("requested_at")[:10])
    stalled = list(selectors.stalled_initiatives(user).order_by("stage_entered_at")[:10])
    _mark_gate_links(user, stalled)
    counts = {
        "open_reviews": GateReview.objects.visible_to(user).filter(status="open").count(),
        "open_incidents": Incident.objects.visible_to(user)
        .exclude(status__in=["resolved", "closed"])
        .aggregate(
            total=Count("pk"),
            severe=Count("pk", filter=Q(severity__in=["high", "critical"])),
        ),
        "reviews_due": RiskAssessment.objects.visible_to(user)
        .filter(status__in=["current", "reopened"])
        .filter(Q(next_review_due__lt=today) | Q(status="reopened"))
        .count(),
        "expired_attestations": ControlAttestation.objects.visible_to(user)
        .filter(expires_on__lt=today)
        .count(),
        "open_access_reviews": AccessReview.objects.visible_to(user).filter(status="open").count(),
    }
    return render(
        request,
        "governance/index.html",
        {
            "blocked": blocked,
            "blocking": selectors.blocking_criteria_for(blocked),
            "stalled": stalled,
            "counts": counts,
            "can_audit": can(user, "governance.read_audit_log"),
        },
    )


@login_required
def stalled_list(request):
    """Every stalled initiative by the one stall rule, any active stage (or ``?stage=``),
    with its open stall review's deadline, and the decision times per unit."""
    from portfolio.choices import ACTIVE_STAGES

    qs = selectors.stalled_initiatives(request.user)
    stage = request.GET.get("stage", "")
    if stage in ACTIVE_STAGES:
        qs = qs.filter(stage=stage)
    sorts = {
        "code": "code",
        "stage": "stage",
        "entered": "stage_entered_at",
        "activity": "last_activity_on",
        "due": "decision_due_on",
    }
    page_obj = paginate(request, sort_queryset(qs, request, sorts, default="entered"))
    # Who may ask for a decision: global gate deciders, or leads of the row's unit.
    from people.scoping import has_global, unit_ids_for

    user = request.user
    global_decider = has_global(user, "portfolio.decide_gate")
    managed = unit_ids_for(user, "manage")
    open_ids = set(
        GateReview.objects.filter(
            status="open", initiative_id__in=[i.pk for i in page_obj.object_list]
        ).values_list("initiative_id", flat=True)
    )
    today = timezone.localdate()
    _mark_gate_links(user, page_obj.object_list)
    for i in page_obj.object_list:
        i.can_ask = (global_decider or i.business_unit_id in managed) and i.pk not in open_ids
        i.has_open_review = i.pk in open_ids
        i.overdue = bool(i.decision_due_on and i.decision_due_on < today)
    return render(
        request,
        "governance/stalled_list.html",
        {
            "page_obj": page_obj,
            "stage": stage,
            "stages": [(s.value, s.label) for s in ACTIVE_STAGES],
            "decision_times": selectors.stall_decision_times(user),
        },
    )


@login_required
def standard_list(request):
    qs = Standard.objects.filter(active=True).annotate(control_count=Count("controls"))
    from governance.models import Control

    return _list(
        request,
        qs=qs,
        filterset_class=filters.StandardFilter,
        sorts={"code": "code", "stage": "target_stage", "dimension": "dimension"},
        default="stage",
        template="governance/standard_list.html",
        controls=Control.objects.order_by("applies_from_stage", "code"),
    )


# --- AI systems and model versions ------------------------------------------------------


def _count_versions(**filters):
    versions = (
        ModelVersion.objects.filter(ai_system=OuterRef("pk"), **filters)
        .order_by()
        .values("ai_system")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(versions, output_field=IntegerField()), 0)


@login_required
def ai_system_list(request):
    qs = (
        AISystem.objects.visible_to(request.user)
        .select_related("initiative", "business_unit", "owner")
        # Counted per row shown (correlated subqueries), not by grouping every system:
        # the page's sort then reads the (name, id) index and stops after a page.
        .annotate(
            version_count=_count_versions(),
            in_production=_count_versions(status="production"),
        )
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.AISystemFilter,
        sorts={"name": "name", "initiative": "initiative__code", "unit": "business_unit__name"},
        default="name",
        template="governance/ai_system_list.html",
        can_add=_can_add(request.user, AISystem),
    )


@login_required
def ai_system_detail(request, pk: int):
    system = _visible(request, AISystem.objects.select_related("initiative", "owner"), pk)
    versions = (
        ModelVersion.objects.visible_to(request.user)
        .filter(ai_system=system)
        .select_related("created_by", "approved_by")
        .prefetch_related("datasets")
        .order_by("-created_at")
    )
    on_date = parse_date(request.GET.get("on", "") or "")
    in_production_on = None
    if on_date:
        from datetime import datetime, time

        moment = timezone.make_aware(datetime.combine(on_date, time.max))
        in_production_on = selectors.production_version_on(ai_system=system, when=moment)
    fields = [
        ("Initiative", system.initiative, _initiative_url(system.initiative)),
        ("Owner", system.owner, None),
        ("Vendor", system.vendor, None),
        ("Description", system.description, None),
    ]
    return _detail(
        request,
        system,
        title=f"AI system: {system.name}",
        fields=fields,
        template="governance/ai_system_detail.html",
        versions=versions,
        on_date=on_date,
        in_production_on=in_production_on,
        edit_url=reverse("governance:ai_system_edit", kwargs={"pk": system.pk}),
    )


@login_required
def ai_system_edit(request, pk: int | None = None):
    return _edit_view(
        request,
        model=AISystem,
        form_class=forms.AISystemForm,
        pk=pk,
        title="AI system",
        detail_name="governance:ai_system_detail",
    )


@login_required
def model_version_list(request):
    qs = ModelVersion.objects.visible_to(request.user).select_related(
        "ai_system", "ai_system__initiative", "business_unit", "created_by", "approved_by"
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.ModelVersionFilter,
        sorts={
            "system": "ai_system__name",
            "version": "version",
            "status": "status",
            "deployed": "deployed_at",
        },
        default="system",
        template="governance/model_version_list.html",
        can_add=_can_add(request.user, ModelVersion),
    )


@login_required
def model_version_detail(request, pk: int):
    mv = _visible(
        request,
        ModelVersion.objects.select_related(
            "ai_system", "ai_system__initiative", "created_by", "approved_by"
        ),
        pk,
    )
    initiative = mv.ai_system.initiative
    user = request.user
    from people.scoping import has_global, unit_ids_for

    can_promote = (
        mv.status in (ModelVersion.Status.DEVELOPMENT, ModelVersion.Status.STAGING)
        and mv.created_by_id != user.pk
        and (
            has_global(user, "governance.approve_modelversion")
            or mv.business_unit_id in unit_ids_for(user, "manage")
        )
    )
    missing = (
        selectors.missing_controls(
            initiative=initiative,
            target_stage=initiative.stage
            if initiative.stage in ("scaled_deployment", "institutional")
            else "initial_production",
        )
        if mv.status in (ModelVersion.Status.DEVELOPMENT, ModelVersion.Status.STAGING)
        else []
    )
    fields = [
        ("AI system", mv.ai_system, reverse("governance:ai_system_detail", args=[mv.ai_system_id])),
        ("Initiative", initiative, _initiative_url(initiative)),
        ("Status", mv.get_status_display(), None),
        ("Training run", mv.training_run_ref, None),
        ("Datasets", ", ".join(d.name for d in mv.datasets.all()), None),
        ("Parameters", mv.parameters, None),
        ("Metrics", mv.metrics, None),
        ("Created by", mv.created_by, None),
        ("Approved for production by", mv.approved_by, None),
        ("Deployed", mv.deployed_at, None),
        ("Retired", mv.retired_at, None),
        ("Retraining interval (days)", mv.retrain_interval_days, None),
    ]
    return _detail(
        request,
        mv,
        title=f"Model version {mv.ai_system.name} {mv.version}",
        fields=fields,
        template="governance/model_version_detail.html",
        can_promote=can_promote,
        can_edit=can(user, "governance.edit_model_version", mv),
        missing_controls=missing,
        edit_url=reverse("governance:model_version_edit", kwargs={"pk": mv.pk}),
    )


@login_required
def model_version_edit(request, pk: int | None = None):
    user = request.user
    instance = None
    if pk is not None:
        instance = _visible(request, ModelVersion.objects, pk)
        require(
            user,
            "governance.edit_model_version",
            instance,
            "Only a version in development or staging is edited, by its unit.",
        )
    else:
        require(
            user,
            "governance.add_model_version",
            None,
            "You have no AI system you may add versions to.",
        )
    initial = {"ai_system": request.GET["ai_system"]} if request.GET.get("ai_system") else {}
    form = forms.ModelVersionForm(
        request.POST or None, instance=instance, user=user, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        obj = _save_form(request, form, success="Model version saved.")
        return redirect("governance:model_version_detail", pk=obj.pk)
    return render(
        request,
        "governance/record_form.html",
        {"form": form, "title": "Model version", "object": instance},
    )


@login_required
@require_POST
def model_version_promote(request, pk: int):
    mv = _visible(request, ModelVersion.objects, pk)
    try:
        services.model_version_promote(acting_user=request.user, model_version=mv)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Version {mv.version} is now in production.")
    return redirect("governance:model_version_detail", pk=mv.pk)


# --- Risk assessments ------------------------------------------------------------------


@login_required
def risk_assessment_list(request):
    qs = RiskAssessment.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "assessor"
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.RiskAssessmentFilter,
        sorts={
            "initiative": "initiative__code",
            "tier": "eu_tier",
            "assessed": "assessed_on",
            "review": "next_review_due",
        },
        default="review",
        template="governance/risk_assessment_list.html",
        can_add=_can_add(request.user, RiskAssessment),
        today=timezone.localdate(),
    )


@login_required
def risk_assessment_detail(request, pk: int):
    ra = _visible(request, RiskAssessment.objects.select_related("initiative", "assessor"), pk)
    fields = [
        ("Initiative", ra.initiative, _initiative_url(ra.initiative)),
        ("EU AI Act tier", ra.get_eu_tier_display(), None),
        (
            "US federal high-impact",
            {True: "Yes", False: "No", None: "Not assessed"}[ra.us_high_impact],
            None,
        ),
        ("Justification", ra.us_justification, None),
        ("Status", ra.get_status_display(), None),
        ("Assessed", ra.assessed_on, None),
        ("Assessor", ra.assessor, None),
        ("Next review due", ra.next_review_due, None),
        ("Notes", ra.notes, None),
    ]
    return _detail(
        request,
        ra,
        title=f"Risk assessment: {ra.initiative}",
        fields=fields,
        template="governance/risk_assessment_detail.html",
        required_controls=services.required_controls_for_tier(ra.eu_tier, ra.initiative.source),
    )


@login_required
def risk_assessment_create(request):
    user = request.user
    require(user, "governance.assess_risk", None, "You have no initiative you may assess.")
    initial = {}
    if request.GET.get("initiative"):
        initial["initiative"] = request.GET["initiative"]
    form = forms.RiskAssessmentForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            ra = services.risk_assessment_record(
                acting_user=user,
                initiative=d["initiative"],
                eu_tier=d["eu_tier"],
                us_high_impact=d["us_high_impact"],
                us_justification=d["us_justification"],
                next_review_due=d["next_review_due"],
                notes=d["notes"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Risk assessment recorded; the initiative takes its tier.")
            return redirect("governance:risk_assessment_detail", pk=ra.pk)
    return render(
        request, "governance/record_form.html", {"form": form, "title": "Risk assessment"}
    )


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errs in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, exc.messages)


# --- Control attestations, fairness audits, explainability ------------------------------


@login_required
def attestation_list(request):
    qs = ControlAttestation.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "control", "attested_by"
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.AttestationFilter,
        sorts={
            "initiative": "initiative__code",
            "control": "control__code",
            "status": "status",
            "expires": "expires_on",
        },
        default="expires",
        template="governance/attestation_list.html",
        can_add=_can_add(request.user, ControlAttestation),
        today=timezone.localdate(),
    )


@login_required
def attestation_detail(request, pk: int):
    a = _visible(
        request,
        ControlAttestation.objects.select_related("initiative", "control", "attested_by"),
        pk,
    )
    fields = [
        ("Initiative", a.initiative, _initiative_url(a.initiative)),
        ("Control", f"{a.control.code} {a.control.name}", None),
        ("Status", a.get_status_display(), None),
        ("Evidence", a.evidence, None),
        ("Attested by", a.attested_by, None),
        ("Attested on", a.attested_on, None),
        ("Expires on", a.expires_on, None),
    ]
    return _detail(
        request,
        a,
        title=f"Control attestation: {a.control.code}",
        fields=fields,
        edit_url=reverse("governance:attestation_edit", kwargs={"pk": a.pk}),
    )


@login_required
def attestation_edit(request, pk: int | None = None):
    return _edit_view(
        request,
        model=ControlAttestation,
        form_class=forms.AttestationForm,
        pk=pk,
        title="Control attestation",
        detail_name="governance:attestation_detail",
    )


@login_required
def fairness_audit_list(request):
    qs = FairnessAudit.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "model_version", "model_version__ai_system"
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.FairnessAuditFilter,
        sorts={
            "initiative": "initiative__code",
            "result": "result",
            "audited": "audited_on",
            "due": "remediation_due",
        },
        default="-audited",
        template="governance/fairness_audit_list.html",
        can_add=_can_add(request.user, FairnessAudit),
    )


@login_required
def fairness_audit_detail(request, pk: int):
    a = _visible(
        request,
        FairnessAudit.objects.select_related("initiative", "model_version", "auditor"),
        pk,
    )
    fields = [
        ("Initiative", a.initiative, _initiative_url(a.initiative)),
        ("Model version", a.model_version, None),
        ("Protected attributes", ", ".join(a.protected_attributes), None),
        ("Metrics per group", a.metrics, None),
        ("Result", a.get_result_display(), None),
        ("Auditor", a.auditor, None),
        ("Audited on", a.audited_on, None),
        ("Remediation plan", a.remediation_plan, None),
        ("Remediation due", a.remediation_due, None),
    ]
    return _detail(
        request,
        a,
        title=f"Fairness audit: {a.initiative}",
        fields=fields,
        edit_url=reverse("governance:fairness_audit_edit", kwargs={"pk": a.pk}),
    )


@login_required
def fairness_audit_edit(request, pk: int | None = None):
    return _edit_view(
        request,
        model=FairnessAudit,
        form_class=forms.FairnessAuditForm,
        pk=pk,
        title="Fairness audit",
        detail_name="governance:fairness_audit_detail",
    )


@login_required
def explainability_list(request):
    qs = ExplainabilityRecord.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "updated_by"
    )
    return _list(
        request,
        qs=qs,
        filterset_class=filters.ExplainabilityFilter,
        sorts={"initiative": "initiative__code", "updated": "updated_at"},
        default="-updated",
        template="governance/explainability_list.html",
        can_add=_can_add(request.user, ExplainabilityRecord),
    )


@login_required
def explainability_detail(request, pk: int):
    r = _visible(request, ExplainabilityRecord.objects.select_related("initiative"), pk)
    fields = [
        ("Initiative", r.initiative, _initiative_url(r.initiative)),
        ("How it reaches its outputs", r.logic, None),
        ("Limitations", r.limitations, None),
        ("Intended use", r.intended_use, None),
        ("How affected people appeal or get a human decision", r.appeal_process, None),
        ("Last updated by", r.updated_by, None),
    ]
    return _detail(
        request,
        r,
        title=f"Explainability: {r.initiative}",
        fields=fields,
        edit_url=reverse("governance:explainability_edit", kwargs={"pk": r.pk}),
    )


@login_required
def explainability_edit(request, pk: int | None = None):
    return _edit_view(
        request,
        model=ExplainabilityRecord,
        form_class=forms.ExplainabilityForm,
        pk=pk,
        title="Explainability record",
        detail_name="governance:explainability_detail",
    )


# --- Incidents ------------------------------------------------------------------------------


@login_required
def incident_list(request):
    qs = Incident.objects.visible_to(request.user).select_related("initiative", "business_unit")
    return _list(
        request,
        qs=qs,
        filterset_class=filters.IncidentFilter,
        sorts={
            "detected": "detected_at",
            "severity": "severity",
            "status": "status",
            "review": "review_due",
        },
        default="-detected",
        template="governance/incident_list.html",
        can_add=_can_add(request.user, Incident),
        today=timezone.localdate(),
    )


@login_required
def incident_detail(request, pk: int):
    i = _visible(
        request,
        Incident.objects.select_related("initiative", "reported_by", "acknowledged_by"),
        pk,
    )
    form = forms.IncidentUpdateForm(
        initial={
            "status": i.status,
            "severity": i.severity,
            "escalation_level": i.escalation_level,
            "review_summary": i.review_summary,
        }
    )
    return _incident_page(request, i, form)


def _incident_page(request, i, form):
    fields = [
        ("Initiative", i.initiative, _initiative_url(i.initiative)),
        ("Severity", i.get_severity_display(), None),
        ("Status", i.get_status_display(), None),
        ("Detected", i.detected_at, None),
        ("Resolved", i.resolved_at, None),
        ("Escalation level", i.escalation_level, None),
        ("Escalation path", i.escalation_path, None),
        (
            "Acknowledged",
            f"{i.acknowledged_by} at {timezone.localtime(i.acknowledged_at):%Y-%m-%d %H:%M}"
            if i.acknowledged_at
            else "Not yet",
            None,
        ),
        ("Reported by", i.reported_by, None),
        ("Description", i.description, None),
        ("Post-incident review due", i.review_due, None),
        ("Post-incident review", i.review_summary, None),
    ]
    gate_reviews = GateReview.objects.visible_to(request.user).filter(incident=i)
    return _detail(
        request,
        i,
        title=f"Incident: {i.title}",
        fields=fields,
        template="governance/incident_detail.html",
        form=form,
        gate_reviews=gate_reviews,
    )


@login_required
def incident_create(request):
    user = request.user
    require(
        user, "governance.add_record", None, "You have no initiative you may report incidents for."
    )
    form = forms.IncidentForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            incident = services.incident_report(acting_user=user, **d)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Incident recorded.")
            return redirect("governance:incident_detail", pk=incident.pk)
    return render(request, "governance/record_form.html", {"form": form, "title": "Incident"})


@login_required
@require_POST
def incident_acknowledge(request, pk: int):
    """Take a severe incident from its page: escalation stops (``incident_acknowledge``)."""
    i = _visible(request, Incident.objects.all(), pk)
    require(
        request.user,
        "governance.acknowledge_incident",
        i,
        "You can see this incident but are not on its escalation path.",
    )
    try:
        services.incident_acknowledge(
            acting_user=request.user, incident=i, note=request.POST.get("note", "")[:500]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Incident acknowledged: its escalation stops.")
    return redirect("governance:incident_detail", pk=i.pk)


@login_required
@require_POST
def incident_update(request, pk: int):
    i = _visible(request, Incident.objects.select_related("initiative", "reported_by"), pk)
    require(
        request.user,
        "governance.update_incident",
        i,
        "You can see this incident but not change it.",
    )
    form = forms.IncidentUpdateForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.incident_update(
                acting_user=request.user,
                incident=i,
                status=d["status"],
                severity=d["severity"],
                escalation_level=d["escalation_level"],
                note=d["note"],
                review_summary=d["review_summary"]
                if d["review_summary"] != i.review_summary
                else None,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Incident updated.")
            return redirect("governance:incident_detail", pk=i.pk)
    return _incident_page(request, i, form)
