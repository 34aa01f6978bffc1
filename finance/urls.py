from django.urls import path

from finance import views
from finance.focus.urls import urlpatterns as focus_urlpatterns

app_name = "finance"

urlpatterns = [
    path("", views.index, name="index"),
    path("budgets/", views.budget_list, name="budget_list"),
    path("budgets/request/", views.budget_request, name="budget_request"),
    path("budgets/<int:pk>/", views.budget_detail, name="budget_detail"),
    path("budgets/<int:pk>/approve/", views.budget_approve, name="budget_approve"),
    path("budgets/<int:pk>/reject/", views.budget_reject, name="budget_reject"),
    path("budgets/<int:pk>/amend/", views.budget_amend, name="budget_amend"),
    path("spend/", views.spend_list, name="spend_list"),
    path("spend/new/", views.spend_create, name="spend_create"),
    path("spend/import/", views.spend_import, name="spend_import"),
    *focus_urlpatterns,
]
