from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portfolio import views
from portfolio.views import flow, initiatives, scorecard, units

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("initiatives/", initiatives.initiative_list, name="initiative_list"),
    path("initiatives/new/", initiatives.initiative_create, name="initiative_create"),
    path(
        "initiatives/autocomplete/",
        initiatives.initiative_autocomplete,
        name="initiative_autocomplete",
    ),
    path(
        "initiatives/owners/autocomplete/",
        initiatives.owner_autocomplete,
        name="owner_autocomplete",
    ),
    path(
        "initiatives/export.<str:fmt>",
        initiatives.initiative_export,
        name="initiative_export",
    ),
    path("initiatives/<int:pk>/", initiatives.initiative_detail, name="initiative_detail"),
    path("initiatives/<int:pk>/edit/", initiatives.initiative_edit, name="initiative_edit"),
    path("initiatives/<int:pk>/kpis/new/", initiatives.kpi_create, name="kpi_create"),
    path(
        "initiatives/<int:pk>/kpis/<int:kpi_pk>/edit/",
        initiatives.kpi_edit,
        name="kpi_edit",
    ),
    path("initiatives/<int:pk>/owners/", initiatives.owners_edit, name="owners_edit"),
    path(
        "initiatives/<int:pk>/measurements/",
        initiatives.measurement_create,
        name="measurement_create",
    ),
    path("analytics/flow/", flow.flow, name="flow"),
    path("analytics/flow/<str:section>.csv", flow.flow_csv, name="flow_csv"),
    path(
        "analytics/flow/graveyard/<int:pk>/reuse/",
        flow.graveyard_reuse,
        name="graveyard_reuse",
    ),
    path("analytics/scorecard/", scorecard.scorecard_heatmap, name="scorecard"),
    path("people/units/<int:pk>/scorecard/", scorecard.unit_scorecard, name="unit_scorecard"),
    # Business units show initiatives and money, so their views live in portfolio.
    path("people/units/", units.unit_list, name="unit_list"),
    path("people/units/<int:pk>/", units.unit_detail, name="unit_detail"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("people/", include("people.urls")),
    path("finance/", include("finance.urls")),
    path("governance/", include("governance.urls")),
    path("api/", include("portfolio.api.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "AI Portfolio administration"
admin.site.site_title = "AI Portfolio"
