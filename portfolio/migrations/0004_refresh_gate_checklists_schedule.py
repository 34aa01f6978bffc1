"""Nightly refresh of the stored checklists of open gate reviews, so list pages that show
the stored snapshot ("blocked at a gate, and why") stay current. The review page itself
always computes the checklist live."""

from django.db import migrations

NAME = "Refresh open gate review checklists"


def create(apps, schema_editor):
    from django.conf import settings

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="2",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=NAME,
        task="governance.refresh_gate_checklists",
        args="[]",
        kwargs="{}",
        crontab=crontab,
        description="Recomputes the checklist snapshot of every open gate review.",
        enabled=True,
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0003_default_periodic_jobs")]

    operations = [migrations.RunPython(create, remove)]
