"""Beat schedules for the reapers (issue 12): jobs and import batches left "running" by a
lost worker end as failed. Stored in the database like every periodic job, so the PMO
can change them in the admin; created once (later edits survive migrate)."""

from django.db import migrations

SCHEDULES = [
    (
        "Reap abandoned jobs",
        "people.tasks.reap_abandoned_jobs",
        "Marks jobs still running after JOBS_ABANDONED_AFTER_MINUTES as failed.",
    ),
    (
        "Reap abandoned import batches",
        "finance.tasks.reap_abandoned_import_batches",
        "Marks spend import batches still running after JOBS_ABANDONED_AFTER_MINUTES as failed.",
    ),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    for name, task, description in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        PeriodicTask.objects.create(
            name=name,
            task=task,
            args="[]",
            kwargs="{}",
            interval=every,
            description=description,
            enabled=True,
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0011_event_time_indexes"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create, remove)]
