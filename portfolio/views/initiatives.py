"""Initiative pages: list (filters, sort, pagination, export), detail tabs, create/edit,
add/edit a KPI, name the owners, record a KPI measurement. Out of scope is 404, in scope but not allowed is 403."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from people.audit import acting_as
from people.jobs import job_create, job_enqueue
from people.models import BusinessUnit
from people.permissions import can
from portfolio import crossapp
from portfolio.choices import ACTIVE_STAGES
from portfolio.exports import filtered_initiatives, initiatives_csv, initiatives_xlsx
from portfolio.forms import InitiativeForm, KPIForm, MeasurementForm, OwnersForm
from portfolio.models import KPI, Assignment, Initiative, Measurement
from portfolio.services import initiative_move, measurement_record
from portfolio.views.listing import paginate

TABS = [
    ("overview", "Overview and owners"),
    ("stages", "Stage history"),
    ("outcomes", "Outcomes"),
    ("money", "Money"),
    ("governance", "Governance"),
    ("history", "History"),
]


def _filtered(request):
    return filtered_initiatives(request)


@login_required
def initiative_autocomplete(request):
    """Up to 20 visible initiatives whose code or name contains ``?q=`` (or the value of
    the input that asked, as htmx sends it), as ``<option>``s for a datalist."""
    from django.db.models import Q
    from django.utils.html import format_html_join

    q = (request.GET.get("q") or next(iter(request.GET.values()), "")).strip()
    rows = []
    if q:
        rows = (
            Initiative.objects.visible_to(request.user)
            .filter(Q(code__istartswith=q) | Q(name__icontains=q))
            .order_by("code")
            .values_list("code", "name")[:20]
        )
    return HttpResponse(format_html_join("", '<option value="{}">{}</option>', rows))


@login_required
def owner_autocomplete(request):
    """Up to 20 people holding a role on an initiative the user can see (the owner
    filter's scope) whose username or name contains ``?q=`` (or the value of the input
    that asked), as ``<option value="username">Full name</option>``s for a datalist."""
    from django.db.models import Q
    from django.utils.html import format_html_join

    from portfolio.filters import owners_visible_to

    q = (request.GET.get("q") or next(iter(request.GET.values()), "")).strip()
    rows = []
    if q:
        match = Q(username__istartswith=q) | Q(first_name__istartswith=q)
        match |= Q(last_name__istartswith=q)
        parts = q.split(None, 1)
        if len(parts) == 2:
            match |= Q(first_name__istartswith=parts[0], last_name__istartswith=parts[1])
        rows = [
            (u.username, u.get_full_name() or u.username)
            for u in owners_visible_to(request.user).filter(match)[:20]
        ]
    return HttpResponse(format_html_join("", '<option value="{}">{}</option>', rows))


@login_required
def initiative_list(request):
    f, qs = _filtered(request)
    page_obj = paginate(request, qs)
    can_create = BusinessUnit.objects.editable_by(request.user).exists()
    return render(
        request,
        "portfolio/initiative_list.html",
        {"filter": f, "page_obj": page_obj, "can_create": can_create},
    )


@login_required
def initiative_export(request, fmt: str):
    """The filtered list as a file; the same scoping and filters as the page."""
    f, qs = _filtered(request)
    if f.errors:
        raise Http404("Those filters are not valid.")
    if fmt not in ("csv", "xlsx"):
        raise Http404("Unknown export format.")
    if qs.count() > settings.EXPORT_INLINE_ROWS:
        # Long work runs in Celery; the job page shows progress and offers the file.
        from portfolio.tasks import export_initiatives_task

        job = job_create(
            kind="initiative_export",
            requested_by=request.user,
            params={"fmt": fmt, "query": request.GET.urlencode()},
        )
        job_enqueue(job, export_initiatives_task)
        return redirect("people:job_detail", pk=job.pk)
    if fmt == "csv":
        return initiatives_csv(qs, request.user)
    return initiatives_xlsx(qs, request.user)


def _visible_initiative(request, pk: int) -> Initiative:
    return get_object_or_404(
        Initiative.objects.visible_to(request.user)
        .with_stall()
        .select_related("business_unit", "coe"),
        pk=pk,
    )


def _value_summary(user, initiative: Initiative):
    """Value to date, cost to date (one-time and operational), ROI and payback, in the
    reporting currency: ``finance.selectors.initiative_value`` (the honest value rule),
    one query."""
    return crossapp.initiative_value_summary(user, initiative)


def _can_edit(user, initiative: Initiative) -> bool:
    return Initiative.objects.editable_by(user).filter(pk=initiative.pk).exists()


def _gate_url(initiative: Initiative) -> str:
    """The governance stage-gate page for this initiative (governance sits above portfolio,
    so the link is resolved by name, never imported)."""
    from django.urls import NoReverseMatch

    try:
        return reverse("governance:gate", kwargs={"initiative_pk": initiative.pk})
    except NoReverseMatch:
        return f"/governance/gates/initiative/{initiative.pk}/"


def _gate_action(user, initiative: Initiative) -> dict | None:
    """The one gate button of the initiative page, labelled for what it opens:
    "Record a gate decision" (an open review this user may decide), "Gate review open"
    (an open review, someone else decides), "Request a gate review" (the team, when the
    initiative has a next gate) or "Next gate checklist" (a decider, nothing requested)."""
    from django.urls import NoReverseMatch

    # Only a review the user may open (finance sees initiatives, not gate reviews).
    review = crossapp.open_gate_review(user, initiative)
    try:
        if review is not None:
            url = reverse("governance:gate_review_detail", kwargs={"pk": review.pk})
            if can(user, "governance.decide_gate_review", review):
                return {"label": "Record a gate decision", "url": url, "primary": True}
            return {"label": "Gate review open", "url": url, "primary": False}
        if initiative.stage not in ACTIVE_STAGES[:-1]:
            return None  # institutional or closed: no next gate
        if can(user, "governance.request_gate_review", initiative):
            return {"label": "Request a gate review", "url": _gate_url(initiative), "primary": True}
        if can(user, "portfolio.decide_gate", initiative):
            return {"label": "Next gate checklist", "url": _gate_url(initiative), "primary": False}
    except (NoReverseMatch, KeyError):  # governance pages not installed
        return None
    return None


def _record_history_url(initiative: Initiative) -> str | None:
    from django.urls import NoReverseMatch

    try:
        return reverse(
            "governance:record_history",
            kwargs={"label": "portfolio.Initiative", "pk": initiative.pk},
        )
    except NoReverseMatch:
        return None


@login_required
def initiative_detail(request, pk: int):
    initiative = _visible_initiative(request, pk)
    tab = request.GET.get("tab", "overview")
    if tab not in dict(TABS):
        tab = "overview"
    user = request.user
    context = {
        "initiative": initiative,
        "tab": tab,
        "tabs": TABS,
        "can_edit": _can_edit(user, initiative),
        "gate_action": _gate_action(user, initiative),
        "days_in_stage": initiative.days_in_stage,
        "value": _value_summary(user, initiative),
    }
    context.update(TAB_LOADERS[tab](request, initiative))
    return render(request, "portfolio/initiative_detail.html", context)


def _overview(request, initiative):
    return {
        "assignments": initiative.assignments.select_related("user").order_by("role"),
        "objectives": initiative.objectives.all(),
        "integration_points": initiative.integration_points.all(),
        "adoption": initiative.adoption_snapshots.order_by("-as_of").first(),
    }


def _stages(request, initiative):
    return {
        "transitions": initiative.transitions.select_related("decided_by").order_by(
            "-decided_at", "-pk"
        )
    }


def _outcomes(request, initiative, form=None):
    user = request.user
    kpis = list(KPI.objects.visible_to(user).filter(initiative=initiative).order_by("kind", "name"))
    measurements = (
        Measurement.objects.visible_to(user)
        .filter(kpi__initiative=initiative)
        .order_by("kpi_id", "measured_on")
        .values("kpi_id", "measured_on", "value")
    )
    series: dict[int, list] = {k.pk: [] for k in kpis}
    for m in measurements:  # one initiative's measurements, grouped for the charts
        series[m["kpi_id"]].append([m["measured_on"].isoformat(), float(m["value"])])
    charts = [
        {
            "id": k.pk,
            "name": k.name,
            "unit": k.unit,
            "baseline": float(k.baseline_value) if k.baseline_value is not None else None,
            "target": float(k.target_value) if k.target_value is not None else None,
            "points": series[k.pk],
        }
        for k in kpis
    ]
    can_record = KPI.objects.editable_by(user).filter(initiative=initiative).exists()
    if form is None and can_record:
        form = MeasurementForm(user=user, initiative=initiative)
    return {"kpis": kpis, "kpi_charts": charts, "measurement_form": form, "can_record": can_record}


def _money(request, initiative):
    user = request.user
    kinds, cats = crossapp.cost_kind_labels(), crossapp.cost_category_labels()
    context = {"budgets": crossapp.initiative_budgets(user, initiative)}
    context.update(
        money_ready=True,
        by_line=[
            {
                "row": r,
                "kind": kinds.get(r.kind, r.kind),
                "category": cats.get(r.category, r.category),
            }
            for r in crossapp.budget_vs_actual(
                user, initiative=initiative, group_by=("kind", "category")
            )
        ],
        totals=crossapp.budget_totals(user, initiative=initiative),
        months=crossapp.spend_by_month(user, initiative=initiative),
    )
    context["month_chart"] = {
        "labels": [m.month.strftime("%b %Y") for m in context["months"]],
        "one_time": [float(m.one_time) for m in context["months"]],
        "operational": [float(m.operational) for m in context["months"]],
        "currency": settings.REPORTING_CURRENCY,
    }
    context["reporting_currency"] = settings.REPORTING_CURRENCY
    context["ai_usage"] = crossapp.initiative_ai_usage(user, initiative)
    return context


def _governance(request, initiative):
    return crossapp.initiative_governance_records(request.user, initiative) | {
        "today": timezone.localdate()
    }


def _history(request, initiative):
    # The trail's own selector: the events of the initiative and of every record that
    # belongs to it (measurements through their KPI), each shown only if the viewer may
    # read its model (finance rows to finance, incidents to governance roles), keyset
    # read from the event tables' time indexes, made readable for the 100 rows shown.
    limit = 100
    page = crossapp.initiative_history(request.user, initiative, limit=limit)
    return {
        "history": page.events,
        "history_truncated": page.next is not None,
        "record_history_url": _record_history_url(initiative),
    }


TAB_LOADERS = {
    "overview": _overview,
    "stages": _stages,
    "outcomes": _outcomes,
    "money": _money,
    "governance": _governance,
    "history": _history,
}


@login_required
def initiative_create(request):
    user = request.user
    if not BusinessUnit.objects.editable_by(user).exists():
        raise PermissionDenied("You do not have a business unit where you may add initiatives.")
    form = InitiativeForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic(), acting_as(user):
            initiative = form.save()
            if not Initiative.objects.editable_by(user).filter(pk=initiative.pk).exists():
                raise PermissionDenied("You may not add initiatives to that unit.")
        messages.success(request, f"Initiative {initiative.code} created.")
        return redirect("initiative_detail", pk=initiative.pk)
    return render(request, "portfolio/initiative_form.html", {"form": form, "initiative": None})


@login_required
def initiative_edit(request, pk: int):
    initiative = _visible_initiative(request, pk)
    user = request.user
    if not _can_edit(user, initiative):
        raise PermissionDenied("You can see this initiative but not change it.")
    from_unit_id = initiative.business_unit_id
    form = InitiativeForm(request.POST or None, instance=initiative, user=user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic(), acting_as(user):
            Initiative.objects.select_for_update().filter(pk=initiative.pk).first()
            # A new unit is a move (every dependent row goes with it), not a field edit.
            target = form.cleaned_data["business_unit"]
            initiative = form.save(commit=False)
            initiative.business_unit_id = from_unit_id
            initiative.save()
            form.save_m2m()
            if target.pk != from_unit_id:
                initiative_move(acting_user=user, initiative=initiative, business_unit=target)
            if not Initiative.objects.editable_by(user).filter(pk=initiative.pk).exists():
                raise PermissionDenied("You may not move initiatives to that unit.")
        messages.success(request, "Changes saved.")
        return redirect("initiative_detail", pk=initiative.pk)
    return render(
        request, "portfolio/initiative_form.html", {"form": form, "initiative": initiative}
    )


@login_required
@require_POST
def measurement_create(request, pk: int):
    initiative = _visible_initiative(request, pk)
    user = request.user
    form = MeasurementForm(request.POST, user=user, initiative=initiative)
    if form.is_valid():
        data = form.cleaned_data
        try:
            measurement_record(
                acting_user=user,
                kpi=data["kpi"],
                measured_on=data["measured_on"],
                value=data["value"],
                note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Recorded {data['value']} for {data['kpi'].name} on {data['measured_on']}.",
            )
            return redirect(f"{reverse('initiative_detail', args=[initiative.pk])}?tab=outcomes")
    elif not KPI.objects.editable_by(user).filter(initiative=initiative).exists():
        raise PermissionDenied("You may not record measurements for this initiative.")
    context = {
        "initiative": initiative,
        "tab": "outcomes",
        "tabs": TABS,
        "can_edit": _can_edit(user, initiative),
        "gate_action": _gate_action(user, initiative),
        "days_in_stage": initiative.days_in_stage,
        "value": _value_summary(user, initiative),
    }
    context.update(_outcomes(request, initiative, form=form))
    return render(request, "portfolio/initiative_detail.html", context, status=400)


def _editable_initiative(request, pk: int) -> Initiative:
    """Visible (else 404) and editable (else 403)."""
    initiative = _visible_initiative(request, pk)
    if not _can_edit(request.user, initiative):
        raise PermissionDenied("You can see this initiative but not change it.")
    return initiative


def _outcomes_url(initiative: Initiative) -> str:
    return f"{reverse('initiative_detail', args=[initiative.pk])}?tab=outcomes"


@login_required
def kpi_create(request, pk: int):
    return _kpi_form(request, pk, kpi_pk=None)


@login_required
def kpi_edit(request, pk: int, kpi_pk: int):
    return _kpi_form(request, pk, kpi_pk=kpi_pk)


def _kpi_form(request, pk: int, kpi_pk: int | None):
    user = request.user
    initiative = _visible_initiative(request, pk)
    kpi = None
    if kpi_pk is not None:
        kpi = get_object_or_404(
            KPI.objects.visible_to(user).filter(initiative=initiative), pk=kpi_pk
        )
    if not _can_edit(user, initiative):
        raise PermissionDenied("You can see this initiative but not change its KPIs.")
    extra = {"instance": kpi} if kpi is not None else {}
    form = KPIForm(request.POST or None, initiative=initiative, **extra)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic(), acting_as(user):
            Initiative.objects.select_for_update().filter(pk=initiative.pk).first()
            if not _can_edit(user, initiative):
                raise PermissionDenied("You may no longer change this initiative.")
            saved = form.save(commit=False)
            saved.initiative = initiative
            saved.business_unit_id = initiative.business_unit_id
            saved.save()
        messages.success(request, f"KPI {saved.name} {'saved' if kpi else 'added'}.")
        return redirect(_outcomes_url(initiative))
    return render(
        request,
        "portfolio/kpi_form.html",
        {"form": form, "initiative": initiative, "kpi": kpi},
        status=400 if form.is_bound else 200,
    )


@login_required
def owners_edit(request, pk: int):
    user = request.user
    initiative = _editable_initiative(request, pk)
    form = OwnersForm(request.POST or None, initiative=initiative)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        with transaction.atomic(), acting_as(user):
            Initiative.objects.select_for_update().filter(pk=initiative.pk).first()
            if not _can_edit(user, initiative):
                raise PermissionDenied("You may no longer change this initiative.")
            for role, person in changes.items():
                if person is None:
                    Assignment.objects.filter(initiative=initiative, role=role).delete()
                else:
                    Assignment.objects.update_or_create(
                        initiative=initiative,
                        role=role,
                        defaults={"user": person, "business_unit_id": initiative.business_unit_id},
                    )
        messages.success(
            request, "Owners saved." if changes else "No changes: the owners are as they were."
        )
        return redirect("initiative_detail", pk=initiative.pk)
    return render(
        request,
        "portfolio/owners_form.html",
        {"form": form, "initiative": initiative},
        status=400 if form.is_bound else 200,
    )
