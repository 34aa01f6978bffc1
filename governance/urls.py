from django.urls import path

from governance import inventory_views

app_name = "governance"

urlpatterns: list = []

urlpatterns += [
    path("inventory/import/", inventory_views.inventory_import_view, name="inventory_import"),
    path("inventory/export/", inventory_views.inventory_export_view, name="inventory_export"),
]
