"""Stage gate pages: the list (what is blocked and why), one initiative's gate, a review
with its checklist, evidence, waivers and decision."""

from __future__ import annotations

import contextlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from governance import filters, forms, selectors, services
from governance.models import GateReview, Standard
from people.permissions import require
from portfolio.choices import ACTIVE_STAGES, STAGE_ORDER
from portfolio.models import Initiative
from portfolio.outcomes import initiative_outcomes
from portfolio.services import can_decide_gate
from portfolio.views.listing import paginate, sort_queryset


@login_required
def gate_review_list(request):
    qs = selectors.gate_reviews_for(request.user)
    f = filters.GateReviewFilter(request.GET, queryset=qs, request=request)
    sorts = {
        "initiative": "initiative__code",
        "requested": "requested_at",
        "blocking": "blocking_count",
        "unit": "business_unit__name",
    }
    page_obj = paginate(request, sort_queryset(f.qs, request, sorts, default="-requested"))
    return render(
        request,
        "governance/gate_review_list.html",
        {
            "filter": f,
            "page_obj": page_obj,
            "blocking": selectors.blocking_criteria_for(page_obj.object_list),
        },
    )


def _initiative(request, pk) -> Initiative:
    return get_object_or_404(
        Initiative.objects.visible_to(request.user).select_related("business_unit"), pk=pk
    )


def _sees_gates(user, initiative: Initiative) -> bool:
    """Gate reviews are governance records: a role that sees the initiative but not its
    unit's gate reviews (finance) has no gate page either."""
    units = GateReview.objects.visible_unit_ids(user)
    return units is None or initiative.business_unit_id in units


@login_required
def gate(request, initiative_pk: int):
    """One initiative's next gate: its open review, or a preview of the checklist and the
    request button."""
    initiative = _initiative(request, initiative_pk)
    if not _sees_gates(request.user, initiative):
        raise Http404("No gate for this initiative.")
    open_review = GateReview.objects.filter(initiative=initiative, status="open").first()
    if open_review:
        return redirect("governance:gate_review_detail", pk=open_review.pk)
    order = STAGE_ORDER.get(initiative.stage)
    next_stage = (
        ACTIVE_STAGES[order + 1] if order is not None and order + 1 < len(ACTIVE_STAGES) else None
    )
    checklist = (
        selectors.compute_checklist(initiative=initiative, target_stage=next_stage)
        if next_stage
        else None
    )
    can_request = (
        next_stage is not None
        and Initiative.objects.editable_by(request.user).filter(pk=initiative.pk).exists()
    )
    if request.method == "POST":
        if not can_request:
            raise PermissionDenied("You may not request a gate review for this initiative.")
        form = forms.GateRequestForm(request.POST)
        if form.is_valid():
            try:
                review = services.gate_review_request(
                    acting_user=request.user,
                    initiative=initiative,
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, "Gate review requested; the checklist is below.")
                return redirect("governance:gate_review_detail", pk=review.pk)
    past = (
        GateReview.objects.filter(initiative=initiative)
        .select_related("requested_by", "decided_by")
        .order_by("-requested_at")
    )
    return render(
        request,
        "governance/gate.html",
        {
            "initiative": initiative,
            "next_stage": next_stage,
            "next_stage_label": dict(Initiative._meta.get_field("stage").choices).get(next_stage),
            "checklist": checklist,
            "can_request": can_request,
            "form": forms.GateRequestForm(),
            "past_reviews": past,
            "fix_links": _fix_links(initiative) if can_request else {},
        },
    )


def _fix_links(initiative) -> dict[str, str]:
    """Where the team records what an unmet automatic criterion is missing."""
    from django.urls import NoReverseMatch, reverse

    q = f"?initiative={initiative.pk}"
    links = {
        "risk_assessment_current": reverse("governance:risk_assessment_create") + q,
        "controls_attested": reverse("governance:attestation_create") + q,
        "fairness_audit_passed": reverse("governance:fairness_audit_create") + q,
        "explainability_with_appeal": reverse("governance:explainability_create") + q,
        "model_version_staged": reverse("governance:ai_system_list"),
        "automated_retraining": reverse("governance:model_version_list"),
        "objective_linked": reverse("initiative_edit", args=[initiative.pk]),
        # The app's own forms, never the admin (unit roles are not staff).
        "business_kpi_baseline": reverse("kpi_create", args=[initiative.pk]),
        "named_operator": reverse("owners_edit", args=[initiative.pk]),
        "requirements_owner": reverse("owners_edit", args=[initiative.pk]),
        "accountable_executive": reverse("owners_edit", args=[initiative.pk]),
    }
    with contextlib.suppress(NoReverseMatch):  # finance pages may not be installed
        links["approved_operational_budget"] = reverse("finance:budget_request") + q
    return links


def _review(request, pk) -> GateReview:
    return get_object_or_404(
        GateReview.objects.visible_to(request.user).select_related(
            "initiative",
            "initiative__business_unit",
            "requested_by",
            "decided_by",
            "transition",
            "incident",
        ),
        pk=pk,
    )


def _decider_problem(user, review) -> str:
    """Why this user cannot decide this review ('' if they can): the service's rule."""
    return services.gate_decider_problem(user, review)


def _review_page(request, review, *, decision_form=None, status=200):
    user = request.user
    is_open = review.status == GateReview.Status.OPEN
    if is_open:
        checklist = selectors.compute_checklist(
            initiative=review.initiative, target_stage=review.target_stage, review=review
        )
        lines = checklist.lines
        blocking = checklist.blocking
    else:
        lines = list(review.criteria.select_related("standard", "evidence_by"))
        waivers = {w.standard_id: w for w in review.waivers.select_related("granted_by")}
        for row in lines:
            row.waiver = waivers.get(row.standard_id)
        blocking = []
    can_edit = Initiative.objects.editable_by(user).filter(pk=review.initiative_id).exists()
    problem = _decider_problem(user, review) if is_open else ""
    if is_open and not problem and decision_form is None:
        decision_form = forms.GateDecisionForm(review=review, blocking=blocking)
    spend = services.spend_totals(review.initiative) if is_open and not problem else []
    return render(
        request,
        "governance/gate_review_detail.html",
        {
            "review": review,
            "initiative": review.initiative,
            "lines": lines,
            "blocking": blocking,
            "is_open": is_open,
            "can_give_evidence": is_open and can_edit,
            "can_withdraw": is_open and can_edit and review.reason == GateReview.Reason.REQUEST,
            "decider_problem": problem,
            "decision_form": decision_form if is_open and not problem else None,
            "spend_totals": spend,
            "fix_links": _fix_links(review.initiative) if is_open and can_edit else {},
            "history": selectors.object_history(review),
            # Decided on outcomes: KPI progress, value versus cost, adoption, spend trend.
            "outcomes": initiative_outcomes(user, review.initiative),
        },
        status=status,
    )


@login_required
def gate_review_detail(request, pk: int):
    return _review_page(request, _review(request, pk))


@login_required
@require_POST
def gate_evidence(request, pk: int):
    review = _review(request, pk)
    form = forms.EvidenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the evidence before saving it.")
        return redirect("governance:gate_review_detail", pk=review.pk)
    standard = Standard.objects.filter(pk=form.cleaned_data["standard"]).first()
    if standard is None:
        raise Http404("No such standard.")
    try:
        services.gate_evidence_give(
            acting_user=request.user,
            review=review,
            standard=standard,
            evidence=form.cleaned_data["evidence"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Evidence recorded for {standard.code}.")
    return redirect("governance:gate_review_detail", pk=review.pk)


@login_required
@require_POST
def gate_recheck(request, pk: int):
    review = _review(request, pk)
    require(
        request.user, "governance.recheck_gate_review", review, "You may not recheck this review."
    )
    try:
        services.gate_checklist_refresh(acting_user=request.user, review=review)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Checklist rechecked against the records.")
    return redirect("governance:gate_review_detail", pk=review.pk)


@login_required
@require_POST
def gate_withdraw(request, pk: int):
    review = _review(request, pk)
    try:
        services.gate_review_withdraw(acting_user=request.user, review=review)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Gate review withdrawn.")
    return redirect("governance:gate", initiative_pk=review.initiative_id)


@login_required
@require_POST
def gate_decide(request, pk: int):
    review = _review(request, pk)
    if review.status != GateReview.Status.OPEN:
        messages.error(request, "This gate review has already been decided.")
        return redirect("governance:gate_review_detail", pk=review.pk)
    problem = _decider_problem(request.user, review)
    if problem:
        raise PermissionDenied(problem)
    checklist = selectors.compute_checklist(
        initiative=review.initiative, target_stage=review.target_stage, review=review
    )
    form = forms.GateDecisionForm(request.POST, review=review, blocking=checklist.blocking)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.gate_decide(
                acting_user=request.user,
                review=review,
                decision=d["decision"],
                rationale=d["rationale"],
                waivers=form.waivers() if d["decision"] == "advance" else None,
                to_stage=d.get("to_stage") or None,
                sunk_cost=d["sunk_cost"],
                sunk_cost_currency=d["sunk_cost_currency"],
                salvaged=d["salvaged"],
                lessons=d["lessons"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errs in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errs)
            else:
                form.add_error(None, exc.messages)
        else:
            messages.success(request, "Decision recorded.")
            return redirect("governance:gate_review_detail", pk=review.pk)
    return _review_page(request, review, decision_form=form, status=400)


@login_required
@require_POST
def gate_stall_review(request, initiative_pk: int):
    """Ask for a decision on a stalled initiative (PMO, CoE, the unit's lead)."""
    initiative = _initiative(request, initiative_pk)
    if not can_decide_gate(request.user, initiative):
        raise PermissionDenied("Only PMO, a CoE or the unit's lead asks for a stall decision.")
    try:
        review = services.gate_review_open_for_stall(
            acting_user=request.user, initiative=initiative
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("governance:stalled_list")
    messages.success(request, "Decision requested; someone other than you decides it.")
    return redirect("governance:gate_review_detail", pk=review.pk)
