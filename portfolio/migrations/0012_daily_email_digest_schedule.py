"""The daily email digest, after the morning scans: people who chose a daily digest get one
email with their new notifications, grouped (portfolio.tasks.email_digest). The weekly
digest goes out with the weekly digest job."""

from django.db import migrations

NAME = "Daily email digest"


def create(apps, schema_editor):
    from django.conf import settings

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="50",
        hour="6",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=NAME,
        task="portfolio.tasks.email_digest",
        args='["daily"]',
        kwargs="{}",
        crontab=crontab,
        description="One email per person who chose a daily digest.",
        enabled=True,
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0011_rules_real_dates_kpi_targets")]

    operations = [migrations.RunPython(create, remove)]
