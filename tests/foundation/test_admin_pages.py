"""Every model has an admin page, and each one loads (for a superuser, and scoped for a
unit lead), so a broken list_display or field name cannot hide until someone clicks."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("people", "portfolio", "finance", "governance")
REGISTERED = sorted(
    (m._meta.app_label, m._meta.model_name)
    for m in admin.site._registry
    if m._meta.app_label in OUR_APPS
)


def test_every_model_of_ours_has_an_admin():
    unregistered = [
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in OUR_APPS
        and m not in admin.site._registry
        and not m._meta.label.endswith("Event")  # audit events: pghistory's Events admin
        and "ObjectPermission" not in m.__name__  # guardian rows follow memberships
    ]
    assert not unregistered, unregistered


@pytest.mark.parametrize("app_label,model_name", REGISTERED)
def test_admin_changelist_and_add_page_load(client, app_label, model_name, initiative_a):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get(reverse(f"admin:{app_label}_{model_name}_changelist")).status_code == 200
    add = client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert add.status_code in (200, 403)  # 403: created only through services


@pytest.mark.parametrize("app_label,model_name", REGISTERED)
@pytest.mark.parametrize("role", ["pmo", "finance", "coe", "auditor"])
def test_admin_changelist_loads_for_each_global_role_or_is_refused(
    client, request, role, app_label, model_name, initiative_a
):
    user = request.getfixturevalue(role)
    user.is_staff = True
    user.save()
    client.force_login(user)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code in (200, 403)


@pytest.mark.parametrize("app_label,model_name", REGISTERED)
def test_admin_refuses_a_unit_lead(client, lead_a, app_label, model_name):
    """Unit roles are not staff: the admin sends them to its login page."""
    client.force_login(lead_a)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response.url
