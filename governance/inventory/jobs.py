"""The body of the inventory import task, kept here so the task module stays small."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import MappingError, load_mapping
from governance.inventory.reader import InventoryFileError
from people.jobs import job_failed, job_progress, job_started, job_succeeded
from people.models import Job

log = logging.getLogger(__name__)
KIND = "inventory_import"


def run_inventory_job(job_id: int) -> None:
    job = Job.objects.select_related("requested_by").filter(pk=job_id, kind=KIND).first()
    if job is None or job.status == Job.Status.SUCCEEDED:
        return
    params = job.params or {}
    job_started(job, message="Reading the file")
    try:
        if params.get("mapping_text"):
            mapping = load_mapping(
                text=params["mapping_text"], filename=params.get("mapping_name", "")
            )
        else:
            mapping = load_mapping(format_name=params.get("format", "omb-2025"))
        with job.input_file.open("rb") as fh:
            data = fh.read()

        def progress(done: int, total: int, message: str) -> None:
            job_progress(job, done=done, total=total, message=message)

        report = inventory_import(
            acting_user=job.requested_by,
            data=data,
            filename=params.get("filename", job.input_file.name.rsplit("/", 1)[-1]),
            mapping=mapping,
            dry_run=bool(params.get("dry_run")),
            keep_valid_rows=bool(params.get("keep_valid_rows")),
            allow_missing_columns=bool(params.get("allow_missing_columns")),
            progress=progress,
        )
    except (InventoryFileError, MappingError, PermissionDenied) as exc:
        job_failed(job, message=str(exc))
        return
    except Exception:
        log.exception("inventory import job %s failed", job_id)
        job_failed(job, message="The import failed unexpectedly; nothing was written.")
        raise
    if report["applied"] or report["dry_run"]:
        job_succeeded(job, report=report, message=report["message"])
    else:
        job_failed(job, message=report["message"], report=report)
