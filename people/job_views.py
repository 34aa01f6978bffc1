"""The page that shows a job's progress, its report, and its result file."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.template.loader import select_template

from people.models import Job
from people.roles import PMO


def _visible_job(request, pk: int) -> Job:
    """A job is seen by the person who asked for it, PMO staff and superusers; anyone
    else gets a 404 (they may not know it exists)."""
    job = get_object_or_404(Job.objects.select_related("requested_by"), pk=pk)
    user = request.user
    if job.requested_by_id == user.pk or user.is_superuser or user.groups.filter(name=PMO).exists():
        return job
    raise Http404("No such job.")


def _report_template(job: Job) -> str:
    return select_template(
        [f"jobs/report_{job.kind}.html", "jobs/report_default.html"]
    ).template.name


@login_required
def job_detail(request, pk: int):
    job = _visible_job(request, pk)
    return render(
        request, "jobs/detail.html", {"job": job, "report_template": _report_template(job)}
    )


@login_required
def job_status(request, pk: int):
    """The htmx fragment the detail page polls until the job ends."""
    job = _visible_job(request, pk)
    return render(
        request, "jobs/_status.html", {"job": job, "report_template": _report_template(job)}
    )


@login_required
def job_download(request, pk: int):
    job = _visible_job(request, pk)
    if job.status != Job.Status.SUCCEEDED or not job.result_file:
        raise Http404("This job has no result to download.")
    name = job.result_file.name.rsplit("/", 1)[-1]
    return FileResponse(job.result_file.open("rb"), as_attachment=True, filename=name)
