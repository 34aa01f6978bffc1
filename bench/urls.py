"""The project's URLs plus the page benchmark's floor: a plain Django view returning the
same 50 initiatives as the API's first list page (same fields, same scope, same order)."""

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
    "last_activity_at",
    "updated_at",
)


def plain_initiatives(request):
    rows = list(Initiative.objects.visible_to(request.user).order_by("code").values(*FIELDS)[:50])
    return JsonResponse({"results": rows})


urlpatterns = [path("bench/plain-initiatives/", plain_initiatives), *project_urlpatterns]
