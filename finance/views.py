"""Finance pages: landing, budgets (list, request, decide, amend), the spend ledger, manual
entry and the spend import (upload, preview, run in Celery). Out of scope is 404, in scope
but not allowed is 403; every queryset goes through ``visible_to``/``editable_by``."""

from __future__ import annotations

import datetime as dt
import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.paginator import Page, Paginator
from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from finance import imports, selectors, services
from finance.filters import BudgetFilter, SpendFilter, _unit_tree_ids
from finance.forms import (
    BUDGET_STATUS_BADGES,
    BudgetAmendForm,
    BudgetDecisionForm,
    BudgetRequestForm,
    SpendEntryForm,
    SpendImportForm,
)
from finance.imports import COLUMNS
from finance.models import Budget, ImportBatch, SpendEntry, current_fiscal_year
from finance.tasks import SPEND_IMPORT, spend_import_task
from people.errors import SeparationOfDutiesError
from people.jobs import job_create, job_enqueue
from people.models import Job
from people.permissions import can, require
from portfolio.views.listing import PAGE_SIZE, paginate, sort_queryset

#: Uploads up to this size are checked in full for the preview; larger files are
#: previewed on their first rows and checked in full by the background job.
PREVIEW_FULL_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 20


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def can_request_budget(user) -> bool:
    return can(user, "finance.request_budget")


def can_enter_spend(user) -> bool:
    return can(user, "finance.enter_spend")


@login_required
def index(request):
    user = request.user
    year = current_fiscal_year()
    return render(
        request,
        "finance/index.html",
        {
            "year": year,
            "budget_label": f"Approved budget FY{year}",
            "totals": selectors.budget_totals(user=user, fiscal_year=year),
            "flags": _variance_flag_page(request, year),
            "waiting": Budget.objects.visible_to(user)
            .filter(status=Budget.Status.REQUESTED)
            .count(),
            "can_request": can_request_budget(user),
            "can_enter": can_enter_spend(user),
            "can_import": can(user, "finance.import_spend"),
            "reporting_currency": settings.REPORTING_CURRENCY,
            **_focus_home(user),
        },
    )


def _variance_flag_page(request, year: int) -> Page:
    """Largest overrun first, 25 a page: thousands can be flagged at scale, so the database
    flags, counts, orders and pages them and only the page's rows are built."""
    flags = selectors.variance_flag_page(
        user=request.user, fiscal_year=year, page=request.GET.get("page"), per_page=PAGE_SIZE
    )
    paginator = Paginator((), PAGE_SIZE)
    paginator.count = flags.count  # a cached_property: the instance value wins
    return Page(flags.flags, flags.number, paginator)


def _focus_home(user) -> dict:
    """FOCUS cloud bills on the finance home: AI-service spend by provider."""
    from finance.focus.selectors import ai_spend_by_provider
    from finance.focus.services import can_view_focus

    return {
        "ai_by_provider": ai_spend_by_provider(user=user, year=current_fiscal_year()),
        "can_view_focus": can_view_focus(user),
    }


# --- Budgets ----------------------------------------------------------------------------

BUDGET_SORTS = {
    "initiative": "initiative__code",
    "unit": "business_unit__name",
    "year": "fiscal_year",
    "kind": "kind",
    "category": "category",
    "amount": "amount",
    "status": "status",
}


@login_required
def budget_list(request):
    qs = Budget.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "requested_by", "approved_by"
    )
    f = BudgetFilter(request.GET, queryset=qs, request=request)
    filtered = sort_queryset(f.qs, request, BUDGET_SORTS, default="-year")
    totals = list(
        f.qs.order_by()
        .values("currency")
        .annotate(amount=Sum("amount"), lines=Count("id"))
        .order_by("currency")
    )
    return render(
        request,
        "finance/budget_list.html",
        {
            "filter": f,
            "page_obj": paginate(request, filtered),
            "totals": totals,
            "badges": BUDGET_STATUS_BADGES,
            "can_request": can_request_budget(request.user),
        },
    )


@login_required
def budget_request(request):
    if not can_request_budget(request.user):
        raise PermissionDenied("You may not request budgets.")
    form = BudgetRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            budget = services.budget_request(acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(request, "Budget requested: finance will decide it.")
            return redirect("finance:budget_detail", pk=budget.pk)
    return render(request, "finance/budget_form.html", {"form": form, "title": "Request a budget"})


def _visible_budget(request, pk: int) -> Budget:
    return get_object_or_404(
        Budget.objects.visible_to(request.user).select_related(
            "initiative", "business_unit", "requested_by", "approved_by", "amends"
        ),
        pk=pk,
    )


@login_required
def budget_detail(request, pk: int):
    budget = _visible_budget(request, pk)
    user = request.user
    lines = (
        Budget.objects.visible_to(user)
        .filter(
            initiative_id=budget.initiative_id,
            fiscal_year=budget.fiscal_year,
            kind=budget.kind,
            category=budget.category,
        )
        .select_related("requested_by", "approved_by")
        .order_by("-created_at")
    )
    can_decide = can(user, "finance.decide_budget", budget)
    can_amend = budget.status == Budget.Status.APPROVED and can(
        user, "finance.amend_budget", budget
    )
    return render(
        request,
        "finance/budget_detail.html",
        {
            "budget": budget,
            "lines": lines,
            "badges": BUDGET_STATUS_BADGES,
            "can_decide": can_decide,
            "own_request": budget.requested_by_id == user.pk,
            "can_amend": can_amend,
            "decision_form": BudgetDecisionForm(),
            "amend_form": BudgetAmendForm(initial={"amount": budget.amount}),
        },
    )


def _decide(request, pk: int, decide, done: str):
    budget = _visible_budget(request, pk)
    form = BudgetDecisionForm(request.POST)
    form.is_valid()
    try:
        decide(acting_user=request.user, budget=budget, note=form.cleaned_data.get("note", ""))
    except SeparationOfDutiesError as exc:
        messages.error(request, f"Separation of duties: {exc}")
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, done)
    return redirect("finance:budget_detail", pk=budget.pk)


@login_required
@require_POST
def budget_approve(request, pk: int):
    return _decide(request, pk, services.budget_approve, "Budget approved.")


@login_required
@require_POST
def budget_reject(request, pk: int):
    return _decide(request, pk, services.budget_reject, "Budget rejected.")


@login_required
def budget_amend(request, pk: int):
    budget = _visible_budget(request, pk)
    require(request.user, "finance.amend_budget", budget, "You may not amend this budget.")
    form = BudgetAmendForm(request.POST or None, initial={"amount": budget.amount})
    if request.method == "POST" and form.is_valid():
        try:
            amendment = services.budget_amend(
                acting_user=request.user, budget=budget, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(
                request, "Amendment requested; the approved line stays until it is decided."
            )
            return redirect("finance:budget_detail", pk=amendment.pk)
    return render(
        request,
        "finance/budget_form.html",
        {
            "form": form,
            "title": f"Amend {budget.initiative.code} FY{budget.fiscal_year}",
            "budget": budget,
        },
    )


# --- Spend ------------------------------------------------------------------------------

SPEND_SORTS = {
    "date": "posted_on",
    "initiative": "initiative__code",
    "unit": "business_unit__name",
    "amount": "amount",
    "vendor": "vendor",
    "kind": "kind",
    "category": "category",
}


def _spend_totals(user, f: SpendFilter) -> list[dict]:
    """Per-currency totals (and so the row count) of the filtered ledger: from the monthly
    rollup when the filters are ones it holds (unit, kind, category, month, currency),
    else from the ledger itself, filtered in place."""
    data = f.form.cleaned_data if f.is_valid() else None
    if not data or data.get("initiative") or data.get("vendor"):
        return selectors.spend_totals_by_currency(spend=f.qs)
    month = None
    if data.get("month"):
        try:
            month = dt.datetime.strptime(data["month"].strip(), "%Y-%m").date()
        except ValueError:
            return selectors.spend_totals_by_currency(spend=f.qs)
    unit = data.get("business_unit")
    return selectors.spend_totals_by_currency(
        user=user,
        units=_unit_tree_ids(unit) if unit else None,
        month=month,
        kind=data.get("kind") or None,
        category=data.get("category") or None,
        currency=data.get("currency") or None,
    )


@login_required
def spend_list(request):
    qs = SpendEntry.objects.visible_to(request.user).select_related("initiative", "business_unit")
    f = SpendFilter(request.GET, queryset=qs, request=request)
    filtered = sort_queryset(f.qs, request, SPEND_SORTS, default="-date")
    per_currency = _spend_totals(request.user, f)
    missing = [t["currency"] for t in per_currency if t["reporting_amount"] is None]
    reporting_total = sum(
        (t["reporting_amount"] for t in per_currency if t["reporting_amount"] is not None),
        start=0,
    )
    return render(
        request,
        "finance/spend_list.html",
        {
            "filter": f,
            "page_obj": paginate(request, filtered, count=sum(t["entries"] for t in per_currency)),
            "per_currency": per_currency,
            "reporting_total": reporting_total,
            "missing_rates": missing,
            "reporting_currency": settings.REPORTING_CURRENCY,
            "can_enter": can_enter_spend(request.user),
            "can_import": can(request.user, "finance.import_spend"),
        },
    )


@login_required
def spend_create(request):
    if not can_enter_spend(request.user):
        raise PermissionDenied("You may not record spend.")
    form = SpendEntryForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.spend_entry_create(acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, _error_text(exc))
        else:
            messages.success(request, "Spend recorded.")
            return redirect("finance:spend_list")
    return render(request, "finance/spend_form.html", {"form": form})


# --- Import -----------------------------------------------------------------------------


def _preview(request, job: Job) -> dict:
    """Dry-run the stored upload. A small file is checked in full in the request; a large
    one is checked in full by a worker (a dry-run job with its own progress page), and
    the request only reads a CSV's first rows, so no request parses a big file."""
    params = job.params
    with job.input_file.open("rb") as fh:
        full = job.input_file.size <= PREVIEW_FULL_BYTES
        if full:
            result = services.spend_import(
                acting_user=request.user,
                file=fh,
                filename=params["filename"],
                source=params["source"],
                keep_valid_rows=params["keep_valid_rows"],
                dry_run=True,
                preview_limit=PREVIEW_ROWS,
            )
            return {"full": True, "result": result}
        result = None
        if params["format"] == "csv":
            head = b"".join(
                fh.readline(imports.MAX_HEADER_BYTES + 1) for _ in range(PREVIEW_ROWS + 1)
            )
            result = services.spend_import(
                acting_user=request.user,
                file=io.BytesIO(head),
                filename=params["filename"],
                source=params["source"],
                keep_valid_rows=params["keep_valid_rows"],
                dry_run=True,
                preview_limit=PREVIEW_ROWS,
            )
    check = Job(
        kind=SPEND_IMPORT,
        requested_by=request.user,
        params={**params, "dry_run": True, "checks_job": job.pk},
    )
    check.input_file.name = job.input_file.name  # the same stored upload, read-only
    check.save()
    job_enqueue(check, spend_import_task)
    return {"full": False, "result": result, "check_job": check}


@login_required
def spend_import(request):
    """Upload -> preview (a dry run: first rows and the validation result) -> confirm,
    which runs the import in Celery and shows its progress on the job page."""
    user = request.user
    require(user, "finance.import_spend", message="You may not import spend.")
    if request.method == "POST" and request.POST.get("action") == "confirm":
        job = get_object_or_404(
            Job, pk=request.POST.get("job"), requested_by=user, kind=SPEND_IMPORT
        )
        if job.status != Job.Status.PENDING or job.celery_task_id:
            return redirect("people:job_detail", pk=job.pk)
        job_enqueue(job, spend_import_task)
        return redirect("people:job_detail", pk=job.pk)
    form = SpendImportForm(request.POST or None, request.FILES or None)
    context = {"form": form, "columns": COLUMNS, "currencies": settings.CURRENCIES}
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name = upload.name.rsplit("/", 1)[-1]
        job = job_create(
            kind=SPEND_IMPORT,
            requested_by=user,
            params={
                "source": form.cleaned_data["source"].strip(),
                "keep_valid_rows": form.cleaned_data["keep_valid_rows"],
                "filename": name,
                "format": "xlsx" if name.lower().endswith(".xlsx") else "csv",
            },
        )
        job.input_file.save(name, File(upload), save=True)
        try:
            context.update(_preview(request, job), job=job)
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
    context["recent"] = ImportBatch.objects.filter(created_by=user, dry_run=False)[:5]
    return render(request, "finance/spend_import.html", context)
