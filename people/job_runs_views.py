"""The PMO's view of background work: the schedules beat runs, the recent runs of the
periodic jobs (``people.Job`` rows of kind ``scan:*``) and the recent Celery task
results (django-celery-results' ``TaskResult``), with a "run now" button per schedule.

PMO staff and superusers only; anyone else signed in gets a 403 (the page exists, they
may not use it). ``people`` imports nothing from the apps above it, so "run now" sends
the schedule's task by name.
"""

from __future__ import annotations

import json

from celery import current_app
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from people.models import Job
from people.roles import PMO

RECENT = 50
#: Tasks a PMO may start from the page; all accept ``requested_by_id``.
RUNNABLE_PREFIX = "portfolio.tasks."


def _require_pmo(user) -> None:
    if not (user.is_superuser or user.groups.filter(name=PMO).exists()):
        raise PermissionDenied("Only PMO staff can see job runs.")


@login_required
@require_GET
def job_runs(request):
    _require_pmo(request.user)
    schedules = PeriodicTask.objects.select_related(
        "crontab", "interval", "solar", "clocked"
    ).order_by("name")
    runs = Job.objects.filter(kind__startswith="scan:").select_related("requested_by")[:RECENT]
    results = TaskResult.objects.only(
        "task_id",
        "task_name",
        "periodic_task_name",
        "status",
        "worker",
        "date_done",
        "date_created",
        "result",
        "traceback",
    ).order_by("-date_created")[:RECENT]
    return render(
        request,
        "people/jobs_runs.html",
        {
            "schedules": schedules,
            "runs": runs,
            "results": results,
            "runnable_prefix": RUNNABLE_PREFIX,
        },
    )


@login_required
@require_POST
def job_run_now(request, pk: int):
    """Send a schedule's task now, on commit, naming the PMO who asked (the task records
    them on the audit trail)."""
    _require_pmo(request.user)
    schedule = get_object_or_404(PeriodicTask, pk=pk)
    if not schedule.task.startswith(RUNNABLE_PREFIX):
        raise PermissionDenied("This task cannot be started from here.")
    args = json.loads(schedule.args or "[]")
    kwargs = {**json.loads(schedule.kwargs or "{}"), "requested_by_id": request.user.pk}
    transaction.on_commit(lambda: current_app.send_task(schedule.task, args=args, kwargs=kwargs))
    messages.success(request, f"\u201c{schedule.name}\u201d was queued; refresh to see its run.")
    return redirect("people:job_runs")
