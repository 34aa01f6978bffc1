from django.urls import path

from finance.focus import views

urlpatterns = [
    path("focus/", views.focus_index, name="focus_index"),
    path("focus/imports/<int:pk>/", views.focus_import_detail, name="focus_import_detail"),
    path("focus/rules/", views.focus_rules, name="focus_rules"),
    path("focus/rules/<int:pk>/", views.focus_rule_edit, name="focus_rule_edit"),
    path("focus/rules/<int:pk>/delete/", views.focus_rule_delete, name="focus_rule_delete"),
    path("focus/reallocate/", views.focus_reallocate, name="focus_reallocate"),
    path("focus/unallocated/", views.focus_unallocated, name="focus_unallocated"),
    path("focus/settings/", views.focus_settings, name="focus_settings"),
]
