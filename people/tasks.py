"""Periodic housekeeping of the organisation's own records."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from people.jobs import jobs_reap_abandoned


@shared_task(
    name="people.tasks.reap_abandoned_jobs", ignore_result=True, time_limit=120, soft_time_limit=100
)
def reap_abandoned_jobs() -> int:
    """Jobs left "running" by a lost worker end as failed (scheduled by beat)."""
    return jobs_reap_abandoned(older_than=timedelta(minutes=settings.JOBS_ABANDONED_AFTER_MINUTES))
