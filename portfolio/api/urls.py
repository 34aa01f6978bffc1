"""The REST API: ``/api/v1/`` (versioned router), ``/api/schema/``, and its docs: Swagger
UI at ``/api/docs/`` and Redoc at ``/api/redoc/``, both served from the
drf-spectacular-sidecar package (no CDN; Swagger's init script is a separate request, so
the Content-Security-Policy needs no inline script).

Each app's ``api/views.py`` registers its own viewsets through ``register(router)``. The
modules are named by string so this project-level URL conf does not make the
``portfolio`` app import ``finance`` or ``governance`` (the layering rule).
"""

from importlib import import_module

from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from portfolio.api import schema  # noqa: F401  (registers the token auth scheme)

API_MODULES = (
    "people.api.views",
    "portfolio.api.views",
    "finance.api.views",
    "governance.api.views",
)

router = DefaultRouter()
for module in API_MODULES:
    import_module(module).register(router)

rollups = import_module("portfolio.api.rollups")
analytics = import_module("portfolio.api.analytics")

urlpatterns = [
    path(
        "v1/",
        include((router.urls + rollups.urlpatterns + analytics.urlpatterns, "api"), namespace="v1"),
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
]
