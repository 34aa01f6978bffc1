"""The periodic jobs: scan for findings, tell the right people, once per period.

Beat (django-celery-beat, rows created by ``portfolio/migrations/0003_default_periodic_jobs``
and editable by the PMO in the admin) sends ``run_scan("<scan name>")``,
``open_access_reviews()`` and ``weekly_digest()``. Each task:

- takes ids or nothing (the scan's name, the requesting user's id), so it serialises as
  JSON and can be retried;
- is idempotent: findings become notifications through ``people.notifications.notify``,
  whose unique key ``(user, finding_key, period)`` means a re-run tells nobody twice;
  campaigns are opened at most once per unit per quarter;
- records the requesting user (a PMO pressing "run now") on the audit trail with
  ``acting_as``; a run started by beat has no requesting user;
- retries transient database, broker and mail errors with exponential backoff, and has
  soft and hard time limits;
- writes a ``people.Job`` row per run (kind ``scan:<name>``), which the PMO's job-runs
  page lists next to django-celery-results' ``TaskResult`` rows.

Selectors of finance and governance are imported lazily inside functions: portfolio
orchestrates them but its modules do not depend on them.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import smtplib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from people.audit import acting_as
from people.jobs import job_failed, job_succeeded
from people.models import Job
from people.notifications import (
    Draft,
    global_role_user_ids,
    month_period,
    notifications_email_digest,
    notify,
    quarter_period,
    unit_lead_ids,
    unit_viewer_ids,
    week_period,
)
from people.roles import PMO
from portfolio import crossapp

logger = logging.getLogger(__name__)

#: Errors worth a retry: the database or broker blinked, the mail server was busy.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    BrokerOperationalError,
    smtplib.SMTPException,
    ConnectionError,
    TimeoutError,
)

TASK_OPTIONS: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": 5 * 60,
    "time_limit": 6 * 60,
    "acks_late": True,
}


@dataclass(frozen=True)
class Scan:
    label: str
    module: str
    function: str
    period: str  # "week" or "month": how often the same finding may be told again


SCANS: dict[str, Scan] = {
    "stalled_initiatives": Scan(
        "Stalled initiatives", "governance.findings", "stalled_initiatives", "week"
    ),
    "kpis_without_measurement": Scan(
        "KPIs without a recent measurement",
        "portfolio.findings",
        "kpis_without_measurement",
        "week",
    ),
    "risk_reviews_overdue": Scan(
        "Overdue risk reviews", "governance.findings", "overdue_risk_reviews", "week"
    ),
    "attestations_expiring": Scan(
        "Expiring control attestations", "governance.findings", "expiring_attestations", "week"
    ),
    "fairness_remediations_overdue": Scan(
        "Overdue fairness remediations",
        "governance.findings",
        "overdue_fairness_remediations",
        "week",
    ),
    "incident_reviews_overdue": Scan(
        "Overdue post-incident reviews", "governance.findings", "overdue_incident_reviews", "week"
    ),
    "models_due_for_retraining": Scan(
        "Models due for retraining", "governance.findings", "models_due_for_retraining", "week"
    ),
    "access_reviews_open": Scan(
        "Open access reviews", "governance.findings", "open_access_reviews", "week"
    ),
    "budget_variance": Scan("Budget variance", "finance.findings", "budget_variance", "month"),
    "gate_criteria_lapsed": Scan(
        "Gate criteria no longer met", "governance.findings", "lapsed_gate_criteria", "week"
    ),
}


def _period(kind: str, today: dt.date) -> str:
    return month_period(today) if kind == "month" else week_period(today)


def _selector(scan: Scan):
    # Lazy: finance and governance sit above portfolio in the import order.
    return getattr(importlib.import_module(scan.module), scan.function)


def _user(user_id: int | None):
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def _group_ids(name: str) -> set[int]:
    return set(
        get_user_model()
        .objects.filter(groups__name=name, is_active=True)
        .values_list("pk", flat=True)
    )


def findings_to_drafts(findings, *, period: str) -> list[Draft]:
    """Who is told: the unit's leads (and leads of units above it), the people named on
    the record if they may see the unit, and the global roles a finding names. Nobody
    receives a finding about a unit they cannot see (lead_b never hears of unit A)."""
    if not findings:
        return []
    unit_ids = {f.business_unit_id for f in findings}
    leads = unit_lead_ids(unit_ids)
    viewers = unit_viewer_ids(unit_ids)
    everywhere = global_role_user_ids()
    groups: dict[str, set[int]] = {}
    drafts = []
    for f in findings:
        recipients = set(leads[f.business_unit_id])
        recipients |= {
            uid for uid in f.user_ids if uid in viewers[f.business_unit_id] or uid in everywhere
        }
        for name in f.groups:
            if name not in groups:
                groups[name] = _group_ids(name)
            recipients |= groups[name]
        drafts.extend(
            Draft(
                user_id=uid,
                kind=f.kind,
                finding_key=f.key,
                period=period,
                title=f.title,
                body=f.body,
                url=f.url,
                urgent=f.urgent,
            )
            for uid in sorted(recipients)
        )
    return drafts


def _start_job(kind: str, requested_by, params: dict) -> Job:
    return Job.objects.create(
        kind=kind[:60],
        requested_by=requested_by,
        params=params,
        status=Job.Status.RUNNING,
        started_at=timezone.now(),
    )


def scan_run(
    name: str, *, today: dt.date | None = None, requested_by=None, send_email: bool = True
) -> dict[str, Any]:
    """Run one scan now: compute its findings, notify, record the run. Returns the
    run's report (findings found, notifications created)."""
    scan = SCANS[name]
    today = today or timezone.localdate()
    period = _period(scan.period, today)
    job = _start_job(f"scan:{name}", requested_by, {"today": today.isoformat(), "period": period})
    try:
        with acting_as(requested_by):
            findings = _selector(scan)(today=today)
            drafts = findings_to_drafts(findings, period=period)
            created = notify(drafts=drafts, send_email=send_email)
    except Exception as exc:
        job_failed(job, message=f"{type(exc).__name__}: {exc}")
        raise
    report = {
        "scan": name,
        "period": period,
        "findings": len(findings),
        "recipients": len({d.user_id for d in drafts}),
        "notifications_created": len(created),
    }
    job_succeeded(
        job,
        report=report,
        message=f"{len(findings)} findings, {len(created)} new notifications",
    )
    return report


def digest_run(
    *, today: dt.date | None = None, requested_by=None, send_email: bool = True
) -> dict[str, Any]:
    """The weekly digest. The PMO gets a portfolio summary in the inbox (how many findings
    of each kind, in how many units); then everyone who chose the weekly digest (the
    default) gets one email with their notifications not emailed yet, grouped by kind.
    Unit leads get no separate summary item: their findings are already in their inbox,
    and a summary repeating them was one more unread row per week."""
    today = today or timezone.localdate()
    period = week_period(today)
    job = _start_job("scan:weekly_digest", requested_by, {"today": today.isoformat()})
    try:
        with acting_as(requested_by):
            labels = {}
            findings = []
            for name, scan in SCANS.items():
                for f in _selector(scan)(today=today):
                    labels[f.kind] = SCANS[name].label
                    findings.append(f)
            portfolio = Counter(f.kind for f in findings)
            inbox = reverse("people:inbox")
            units = len({f.business_unit_id for f in findings})
            drafts = [
                Draft(
                    user_id=uid,
                    kind="digest",
                    finding_key="digest:portfolio",
                    period=period,
                    title=f"Portfolio weekly digest: {len(findings)} findings in {units} units",
                    body=_digest_body(portfolio, labels) or "Nothing needs attention this week.",
                    url=inbox,
                )
                for uid in sorted(_group_ids(PMO))
            ]
            created = notify(drafts=drafts, send_email=send_email)
            emails = (
                notifications_email_digest(
                    frequency="weekly", headings={**labels, "digest": "Portfolio summary"}
                )
                if send_email
                else 0
            )
    except Exception as exc:
        job_failed(job, message=f"{type(exc).__name__}: {exc}")
        raise
    report = {
        "period": period,
        "findings": len(findings),
        "recipients": len(drafts),
        "notifications_created": len(created),
        "emails_sent": emails,
    }
    job_succeeded(job, report=report, message=f"{emails} digest emails sent")
    return report


def email_digest_run(*, frequency: str = "daily") -> dict[str, Any]:
    """Email the ``frequency`` digest now (daily: every morning after the scans)."""
    return {"frequency": frequency, "emails_sent": notifications_email_digest(frequency=frequency)}


def _digest_body(counts: Counter, labels: dict[str, str]) -> str:
    return "; ".join(f"{labels[kind]}: {n}" for kind, n in sorted(counts.items()))


def access_reviews_open_run(
    *, today: dt.date | None = None, requested_by=None, due_in_days: int = 30
) -> dict[str, Any]:
    """Open this quarter's access review campaign for every top-level unit that has none
    yet, through ``governance.services.access_review_open``. The reviewer is the unit's
    lead (``BusinessUnit.lead``, else its first lead membership). Idempotent per quarter."""
    from people.models import BusinessUnit, UnitMembership, UnitRole

    today = today or timezone.localdate()
    quarter = quarter_period(today)
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    job = _start_job("scan:access_review_campaigns", requested_by, {"quarter": quarter})
    try:
        units = list(
            BusinessUnit.objects.top_level()
            .exclude(pk__in=crossapp.units_with_access_review_since(quarter_start))
            .select_related("lead")
        )
        first_lead = dict(
            UnitMembership.objects.filter(
                business_unit__in=units, role=UnitRole.LEAD, user__is_active=True
            )
            .order_by("business_unit_id", "created_at")
            .distinct("business_unit_id")
            .values_list("business_unit_id", "user_id")
        )
        users = get_user_model().objects.in_bulk(list(first_lead.values()))
        opened, skipped = [], []
        for unit in units:
            reviewer = unit.lead if unit.lead and unit.lead.is_active else None
            reviewer = reviewer or users.get(first_lead.get(unit.pk))
            if reviewer is None:
                skipped.append(unit.code)
                continue
            with transaction.atomic():
                review = crossapp.access_review_open(
                    acting_user=requested_by or reviewer,
                    business_unit=unit,
                    reviewer=reviewer,
                    due_on=today + dt.timedelta(days=due_in_days),
                )
            opened.append(review.pk)
    except Exception as exc:
        job_failed(job, message=f"{type(exc).__name__}: {exc}")
        raise
    report = {"quarter": quarter, "opened": len(opened), "units_without_lead": skipped}
    job_succeeded(job, report=report, message=f"{len(opened)} campaigns opened")
    return report


def run_all(
    *, today: dt.date | None = None, requested_by=None, send_email: bool = True
) -> dict[str, Any]:
    """Every periodic job once, in order: open campaigns, scans, then the digest (which
    counts what the scans found). Used by ``manage.py run_periodic_jobs``."""
    reports: dict[str, Any] = {
        "access_review_campaigns": access_reviews_open_run(today=today, requested_by=requested_by)
    }
    for name in SCANS:
        reports[name] = scan_run(
            name, today=today, requested_by=requested_by, send_email=send_email
        )
    reports["weekly_digest"] = digest_run(
        today=today, requested_by=requested_by, send_email=send_email
    )
    return reports


# --- Celery tasks -------------------------------------------------------------------


@shared_task(name="portfolio.tasks.run_scan", **TASK_OPTIONS)
def run_scan(scan_name: str, requested_by_id: int | None = None) -> dict[str, Any]:
    if scan_name not in SCANS:
        logger.warning("Unknown scan %r; nothing to do.", scan_name)
        return {"scan": scan_name, "skipped": "unknown scan"}
    return scan_run(scan_name, requested_by=_user(requested_by_id))


@shared_task(name="portfolio.tasks.weekly_digest", **TASK_OPTIONS)
def weekly_digest(requested_by_id: int | None = None) -> dict[str, Any]:
    return digest_run(requested_by=_user(requested_by_id))


@shared_task(name="portfolio.tasks.email_digest", **TASK_OPTIONS)
def email_digest(frequency: str = "daily") -> dict[str, Any]:
    return email_digest_run(frequency=frequency)


@shared_task(name="portfolio.tasks.open_access_reviews", **TASK_OPTIONS)
def open_access_reviews(requested_by_id: int | None = None) -> dict[str, Any]:
    return access_reviews_open_run(requested_by=_user(requested_by_id))


@shared_task(name="portfolio.tasks.scorecard_snapshot", **TASK_OPTIONS)
def scorecard_snapshot(month: str | None = None) -> int:
    """Monthly: store every unit's scaling scorecard (idempotent within a month)."""
    from portfolio.scorecard import snapshot_take

    return snapshot_take(month=dt.date.fromisoformat(month) if month else None)


@shared_task(
    name="portfolio.tasks.heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30
)
def heartbeat(requested_by_id: int | None = None) -> str:
    """Sent by beat every few minutes; a worker running it records the time, so
    ``/healthz`` knows beat, the broker and a worker all work (not merely that beat sent
    something). Both limits are set: a soft limit above the hard one makes Celery refuse
    the task."""
    from people.models import Heartbeat

    now = timezone.now()
    Heartbeat.objects.update_or_create(name="beat", defaults={"beat_at": now})
    return now.isoformat()


def enqueue(task, *args) -> None:
    """Send ``task`` once the surrounding transaction commits (views use this)."""
    transaction.on_commit(lambda: task.delay(*args))


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,
)
def export_initiatives_task(job_id: int) -> None:
    """Write the initiative list a person asked for (their scope, their filters and sort,
    replayed from the job's params) to a file on the job. A finished job is left alone."""
    from people.jobs import job_failed, job_progress, job_started, job_succeeded
    from people.models import Job
    from portfolio.exports import as_request, filtered_initiatives, initiatives_file

    job = Job.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        return
    user = job.requested_by
    if user is None or not user.is_active:
        job_failed(job, message="The person who asked for this export no longer has access.")
        return
    _, qs = filtered_initiatives(as_request(user, job.params.get("query", "")))
    total = qs.count()
    job_started(job, total=total, message="Writing the file")
    name, body = initiatives_file(
        qs,
        job.params.get("fmt", "csv"),
        user=user,
        progress=lambda done: job_progress(job, done=done),
    )
    job_succeeded(
        job,
        report={"rows": total, "format": job.params.get("fmt", "csv")},
        message=f"{total} initiatives exported.",
        result_file=(name, body),
    )
