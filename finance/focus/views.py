"""FOCUS pages (finance section): upload, imports and their reports, allocation rules,
unallocated spend, cost basis and the ServiceCategory table. Finance, PMO and auditors
read them; only finance changes anything (403 for the others); a unit role gets 403 on
the section and 404 on any record of it, since none belongs to a unit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from finance.focus import selectors, services
from finance.focus.forms import (
    AllocationRuleForm,
    CostBasisForm,
    FocusUploadForm,
    ServiceCategoryForm,
)
from finance.focus.models import AllocationRule, FocusImport, FocusSettings, ServiceCategoryMapping
from finance.focus.tasks import (
    FOCUS_IMPORT,
    FOCUS_REALLOCATE,
    focus_import_task,
    focus_reallocate_task,
)
from people.jobs import job_create, job_enqueue


def _viewer(request) -> None:
    if not services.can_view_focus(request.user):
        raise PermissionDenied("FOCUS cloud bills are for finance and the PMO.")


def _manager(request) -> None:
    _viewer(request)
    if not services.can_manage_focus(request.user):
        raise PermissionDenied("Only finance may change FOCUS imports and allocation.")


def _record(request, queryset, pk):
    if not services.can_view_focus(request.user):
        raise Http404("No such record.")
    return get_object_or_404(queryset, pk=pk)


def _enqueue_reallocation(request):
    job = job_create(kind=FOCUS_REALLOCATE, requested_by=request.user)
    job_enqueue(job, focus_reallocate_task)
    return job


@login_required
def focus_index(request):
    _viewer(request)
    form = FocusUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _manager(request)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            name = upload.name.rsplit("/", 1)[-1]
            job = job_create(
                kind=FOCUS_IMPORT,
                requested_by=request.user,
                params={"filename": name, "focus_version": form.cleaned_data["focus_version"]},
            )
            job.input_file.save(name, File(upload), save=True)
            job_enqueue(job, focus_import_task)
            return redirect("people:job_detail", pk=job.pk)
    return render(
        request,
        "finance/focus/index.html",
        {
            "form": form,
            "can_manage": services.can_manage_focus(request.user),
            "imports": FocusImport.objects.select_related("created_by")[:10],
            "summary": selectors.unallocated_summary(user=request.user, limit=5),
            "settings_row": FocusSettings.current(),
        },
    )


@login_required
def focus_import_detail(request, pk: int):
    record = _record(request, FocusImport.objects.select_related("created_by"), pk)
    return render(
        request,
        "finance/focus/import_detail.html",
        {"record": record, "report": services.focus_report(record)},
    )


@login_required
def focus_rules(request):
    _viewer(request)
    form = AllocationRuleForm(request.POST or None, user=request.user)
    if request.method == "POST":
        _manager(request)
        if form.is_valid():
            try:
                services.allocation_rule_create(acting_user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                job = _enqueue_reallocation(request)
                messages.success(
                    request, "Rule saved. Existing lines are being re-allocated by the rules."
                )
                return redirect("people:job_detail", pk=job.pk)
    return render(
        request,
        "finance/focus/rules.html",
        {
            "form": form,
            "rules": AllocationRule.objects.select_related("initiative", "changed_by"),
            "can_manage": services.can_manage_focus(request.user),
        },
    )


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, " ".join(exc.messages))


@login_required
def focus_rule_edit(request, pk: int):
    rule = _record(request, AllocationRule.objects.all(), pk)
    _manager(request)
    form = AllocationRuleForm(request.POST or None, instance=rule, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.allocation_rule_update(
                acting_user=request.user, rule=rule, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            job = _enqueue_reallocation(request)
            messages.success(request, "Rule changed. Lines are being re-allocated.")
            return redirect("people:job_detail", pk=job.pk)
    return render(request, "finance/focus/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def focus_rule_delete(request, pk: int):
    rule = _record(request, AllocationRule.objects.all(), pk)
    _manager(request)
    services.allocation_rule_delete(acting_user=request.user, rule=rule)
    job = _enqueue_reallocation(request)
    messages.success(request, "Rule deleted. Lines are being re-allocated.")
    return redirect("people:job_detail", pk=job.pk)


@login_required
@require_POST
def focus_reallocate(request):
    _manager(request)
    job = _enqueue_reallocation(request)
    return redirect("people:job_detail", pk=job.pk)


@login_required
def focus_unallocated(request):
    _viewer(request)
    return render(
        request,
        "finance/focus/unallocated.html",
        {
            "summary": selectors.unallocated_summary(user=request.user),
            "can_manage": services.can_manage_focus(request.user),
        },
    )


@login_required
def focus_settings(request):
    _viewer(request)
    current = FocusSettings.current()
    basis_form = CostBasisForm(initial={"cost_basis": current.cost_basis})
    category_form = ServiceCategoryForm()
    if request.method == "POST":
        _manager(request)
        try:
            if request.POST.get("action") == "basis":
                basis_form = CostBasisForm(request.POST)
                if basis_form.is_valid():
                    services.focus_settings_update(
                        acting_user=request.user, **basis_form.cleaned_data
                    )
                    job = _enqueue_reallocation(request)
                    messages.success(request, "Cost basis changed; the ledger is being updated.")
                    return redirect("people:job_detail", pk=job.pk)
            else:
                category_form = ServiceCategoryForm(request.POST)
                if category_form.is_valid():
                    services.service_category_set(
                        acting_user=request.user, **category_form.cleaned_data
                    )
                    job = _enqueue_reallocation(request)
                    messages.success(request, "Category saved; the ledger is being updated.")
                    return redirect("people:job_detail", pk=job.pk)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return render(
        request,
        "finance/focus/settings.html",
        {
            "basis_form": basis_form,
            "category_form": category_form,
            "current": current,
            "mappings": ServiceCategoryMapping.objects.all(),
            "can_manage": services.can_manage_focus(request.user),
        },
    )
