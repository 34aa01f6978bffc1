"""Access review campaigns: list, open, decide each membership, close."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from governance import filters, forms, selectors, services
from governance.models import AccessReview, AccessReviewItem
from people.models import BusinessUnit
from people.scoping import has_global
from portfolio.views.listing import paginate, sort_queryset


@login_required
def access_review_list(request):
    from django.db.models import Count, Q

    qs = (
        AccessReview.objects.visible_to(request.user)
        .select_related("business_unit", "reviewer")
        .annotate(
            item_count=Count("items"),
            pending=Count("items", filter=Q(items__decision="pending")),
            revoked=Count("items", filter=Q(items__decision="revoke")),
        )
    )
    f = filters.AccessReviewFilter(request.GET, queryset=qs, request=request)
    sorts = {"opened": "opened_on", "due": "due_on", "unit": "business_unit__name"}
    page_obj = paginate(request, sort_queryset(f.qs, request, sorts, default="-opened"))
    can_open = BusinessUnit.objects.manageable_by(request.user).exists()
    return render(
        request,
        "governance/access_review_list.html",
        {"filter": f, "page_obj": page_obj, "can_open": can_open},
    )


@login_required
def access_review_create(request):
    user = request.user
    if not BusinessUnit.objects.manageable_by(user).exists():
        raise PermissionDenied("Only unit leads and PMO staff open access reviews.")
    form = forms.AccessReviewOpenForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            review = services.access_review_open(
                acting_user=user,
                business_unit=d["business_unit"],
                reviewer=d["reviewer"],
                due_on=d["due_on"],
                name=d["name"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errs in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errs)
            else:
                form.add_error(None, exc.messages)
        else:
            messages.success(request, f"Access review opened with {review.items.count()} items.")
            return redirect("governance:access_review_detail", pk=review.pk)
    return render(
        request, "governance/record_form.html", {"form": form, "title": "Open an access review"}
    )


def _review(request, pk):
    return get_object_or_404(
        AccessReview.objects.visible_to(request.user).select_related("business_unit", "reviewer"),
        pk=pk,
    )


def _can_decide(user, review) -> bool:
    return review.status == AccessReview.Status.OPEN and (
        user.pk == review.reviewer_id or has_global(user, "governance.change_accessreview")
    )


@login_required
def access_review_detail(request, pk: int):
    review = _review(request, pk)
    items = review.items.select_related("user", "decided_by", "business_unit").order_by(
        "business_unit__name", "user__username"
    )
    return render(
        request,
        "governance/access_review_detail.html",
        {
            "review": review,
            "items": items,
            "can_decide": _can_decide(request.user, review),
            "history": selectors.object_history(review),
        },
    )


@login_required
@require_POST
def access_review_item_decide(request, pk: int, item_pk: int):
    review = _review(request, pk)
    item = get_object_or_404(AccessReviewItem, pk=item_pk, review=review)
    try:
        services.access_review_decide(
            acting_user=request.user,
            item=item,
            decision=request.POST.get("decision", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        verb = "revoked: the access is gone" if item.decision != "keep" else "kept"
        messages.success(request, f"{item.user} {item.get_role_display().lower()} {verb}.")
    return redirect("governance:access_review_detail", pk=review.pk)


@login_required
@require_POST
def access_review_close(request, pk: int):
    review = _review(request, pk)
    try:
        services.access_review_close(acting_user=request.user, review=review)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Access review closed; its decisions stay as evidence.")
    return redirect("governance:access_review_detail", pk=review.pk)
