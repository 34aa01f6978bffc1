"""Default schedules for the periodic jobs (portfolio/tasks.py), stored in the database
by django-celery-beat so the PMO can change or disable them in the admin.

Daily scans notify each finding once per ISO week (budget variance once per month), so
a finding that appears mid-week is told the day it appears and not again that week.
Existing rows with the same name are left alone: the PMO's edits survive a re-migrate.
"""

import json

from django.db import migrations

# name, task, args, crontab (minute, hour, day_of_week), description
DAILY = "*"
JOBS = [
    (
        "Scan: stalled initiatives",
        "portfolio.tasks.run_scan",
        ["stalled_initiatives"],
        ("0", "6", DAILY),
        "Initiatives past their stage limit or without activity.",
    ),
    (
        "Scan: KPIs without a recent measurement",
        "portfolio.tasks.run_scan",
        ["kpis_without_measurement"],
        ("5", "6", DAILY),
        "KPIs with no measurement in their cadence window plus grace.",
    ),
    (
        "Scan: overdue risk reviews",
        "portfolio.tasks.run_scan",
        ["risk_reviews_overdue"],
        ("10", "6", DAILY),
        "Risk assessments past next_review_due.",
    ),
    (
        "Scan: expiring control attestations",
        "portfolio.tasks.run_scan",
        ["attestations_expiring"],
        ("15", "6", DAILY),
        "Attestations expiring within JOBS_ATTESTATION_WARNING_DAYS.",
    ),
    (
        "Scan: overdue fairness remediations",
        "portfolio.tasks.run_scan",
        ["fairness_remediations_overdue"],
        ("20", "6", DAILY),
        "Failed fairness audits past remediation_due.",
    ),
    (
        "Scan: overdue post-incident reviews",
        "portfolio.tasks.run_scan",
        ["incident_reviews_overdue"],
        ("25", "6", DAILY),
        "Incidents past review_due.",
    ),
    (
        "Scan: models due for retraining",
        "portfolio.tasks.run_scan",
        ["models_due_for_retraining"],
        ("30", "6", DAILY),
        "Production model versions past retrain_interval_days.",
    ),
    (
        "Scan: open access reviews",
        "portfolio.tasks.run_scan",
        ["access_reviews_open"],
        ("35", "6", DAILY),
        "Reminds reviewers of open access review campaigns.",
    ),
    (
        "Scan: budget variance",
        "portfolio.tasks.run_scan",
        ["budget_variance"],
        ("40", "6", DAILY),
        "Run rate above budget by FINANCE_VARIANCE_ALERT_PCT (told monthly).",
    ),
    (
        "Open quarterly access review campaigns",
        "portfolio.tasks.open_access_reviews",
        [],
        ("0", "5", DAILY),
        "Opens one campaign per top-level unit per quarter (idempotent).",
    ),
    (
        "Weekly digest",
        "portfolio.tasks.weekly_digest",
        [],
        ("0", "7", "1"),
        "Monday: each unit lead and the PMO get a summary of this week's findings.",
    ),
]
HEARTBEAT = "Beat heartbeat"


def create_defaults(apps, schema_editor):
    from django.conf import settings

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, args, (minute, hour, day_of_week), description in JOBS:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_week=day_of_week,
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(
            name=name,
            task=task,
            args=json.dumps(args),
            kwargs="{}",
            crontab=crontab,
            description=description,
            enabled=True,
        )
    if not PeriodicTask.objects.filter(name=HEARTBEAT).exists():
        every_5_min, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
        PeriodicTask.objects.create(
            name=HEARTBEAT,
            task="portfolio.tasks.heartbeat",
            args="[]",
            kwargs="{}",
            interval=every_5_min,
            description="Lets /healthz tell when beat last ran.",
            enabled=True,
        )


def remove_defaults(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[job[0] for job in JOBS] + [HEARTBEAT]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portfolio", "0002_stagepolicy"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
