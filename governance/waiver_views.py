"""The waivers register: every waiver the user may see, with its owner, reason, expiry,
co-signature and lapse; PMO and CoE co-sign from here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance import services
from governance.models import Waiver
from people.errors import SeparationOfDutiesError
from portfolio.views.listing import paginate, sort_queryset


@login_required
def waiver_list(request):
    qs = Waiver.objects.visible_to(request.user).select_related(
        "initiative", "business_unit", "standard", "granted_by", "co_signed_by", "review"
    )
    state = request.GET.get("state", "")
    today = timezone.localdate()
    if state == "in_force":
        qs = qs.filter(expires_on__gte=today)
    elif state == "expired":
        qs = qs.filter(expires_on__lt=today)
    elif state == "awaiting_cosign":
        qs = qs.filter(co_signed_by__isnull=True, initiative__risk_tier__in=["high", "prohibited"])
    sorts = {"expires": "expires_on", "initiative": "initiative__code", "granted": "granted_at"}
    page_obj = paginate(request, sort_queryset(qs, request, sorts, default="expires"))
    return render(
        request,
        "governance/waiver_list.html",
        {
            "page_obj": page_obj,
            "state": state,
            "today": today,
            "can_cosign": services._cosigns(request.user),
        },
    )


@login_required
@require_POST
def waiver_cosign(request, pk: int):
    waiver = get_object_or_404(Waiver.objects.visible_to(request.user), pk=pk)
    try:
        services.waiver_cosign(acting_user=request.user, waiver=waiver)
    except (PermissionDenied, SeparationOfDutiesError) as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Waiver co-signed.")
    return redirect("governance:waiver_list")
