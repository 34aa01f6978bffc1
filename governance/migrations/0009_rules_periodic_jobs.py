"""Beat rows for the rules of issue 13: the incident escalation every 15 minutes, and the
weekly scan that rechecks the criteria of passed gates (lapses told to the team and PMO)."""

from django.db import migrations

ESCALATE = "Escalate unacknowledged severe incidents"
RECHECK = "Scan: gate criteria no longer met"


def create(apps, schema_editor):
    from django.conf import settings

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if not PeriodicTask.objects.filter(name=ESCALATE).exists():
        every, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
        PeriodicTask.objects.create(
            name=ESCALATE,
            task="governance.escalate_incidents",
            args="[]",
            kwargs="{}",
            interval=every,
            description="Severe incidents not acknowledged in time go one level up.",
            enabled=True,
        )
    if not PeriodicTask.objects.filter(name=RECHECK).exists():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute="30",
            hour="2",
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(
            name=RECHECK,
            task="portfolio.tasks.run_scan",
            args='["gate_criteria_lapsed"]',
            kwargs="{}",
            crontab=crontab,
            description="Rechecks passed gates; lapsed criteria and expired waivers are told.",
            enabled=True,
        )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[ESCALATE, RECHECK]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_rules_scope_waivers_lapses_deployments"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create, remove)]
