"""The project's URLs plus the page benchmark's floor: a plain Django view returning the
same 50 initiatives as the API's first list page (same fields and figures, same scope,
same order): the stall rule's annotations and the page's value, cost and ROI in one query,
as the API computes them, without DRF."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from portfolio.models import Initiative
from portfolio.urls import urlpatterns as project_urlpatterns

FIELDS = (
    "id",
    "code",
    "name",
    "business_unit",
    "stage",
    "status",
    "risk_tier",
    "integration_depth",
    "last_activity_on",
    "stalled",
    "days_in_stage",
    "updated_at",
)


def plain_initiatives(request):
    from finance.selectors import initiative_value

    rows = list(
        Initiative.objects.visible_to(request.user)
        .with_stall()
        .order_by("code")
        .values(*FIELDS)[:50]
    )
    values = {
        v.key_id: v
        for v in initiative_value(user=request.user, initiative_ids=[r["id"] for r in rows])
    }
    for row in rows:
        value = values.get(row["id"])
        row["value_to_date"] = value and value.realised_value
        row["cost_to_date"] = value and value.total_cost
        row["roi"] = value and value.roi
        row["currency"] = settings.REPORTING_CURRENCY
    return JsonResponse({"count": len(rows), "results": rows})


urlpatterns = [path("bench/plain-initiatives/", plain_initiatives), *project_urlpatterns]
