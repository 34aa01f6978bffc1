"""Unit roles are not staff (issue 12): the admin is for administrators, and unit leads
and members work in the app where every write goes through the services' rules. Users
who hold a unit membership but no global role and are not superusers lose ``is_staff``."""

from django.db import migrations

GLOBAL_ROLES = ("PMO", "Finance", "CoE", "Auditor")


def unit_roles_are_not_staff(apps, schema_editor):
    User = apps.get_model("auth", "User")
    UnitMembership = apps.get_model("people", "UnitMembership")
    (
        User.objects.filter(is_staff=True, is_superuser=False)
        .filter(pk__in=UnitMembership.objects.values("user_id"))
        .exclude(groups__name__in=GLOBAL_ROLES)
        .update(is_staff=False)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0006_event_time_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(unit_roles_are_not_staff, migrations.RunPython.noop)]
