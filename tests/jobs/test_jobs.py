"""The jobs end to end in-process: who is told, no spam on re-run, digests, campaigns,
the run record, and the management command."""

import datetime as dt

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command

from governance.models import AccessReview
from people.models import Job, Notification
from portfolio import tasks
from portfolio.findings import Finding
from tests.factories import (
    AssignmentFactory,
    IncidentFactory,
    NotificationPreferenceFactory,
    RiskAssessmentFactory,
)

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 24)  # ISO week 2026-W48


def _overdue_review(initiative):
    return RiskAssessmentFactory(
        initiative=initiative, next_review_due=TODAY - dt.timedelta(days=3)
    )


def test_a_finding_is_told_to_the_units_leads_and_leads_above_it_not_other_units(
    lead_a, lead_b, member_a, pmo, initiative_a_child, initiative_b
):
    _overdue_review(initiative_a_child)
    report = tasks.scan_run("risk_reviews_overdue", today=TODAY)
    assert report["findings"] == 1
    assert set(Notification.objects.values_list("user__username", flat=True)) == {"lead-a"}
    assert not Notification.objects.filter(user=lead_b).exists()
    assert Notification.objects.get().period == "2026-W48"


def test_people_named_on_the_record_are_told_only_if_they_can_see_the_unit(
    lead_a, lead_b, member_a, initiative_a
):
    AssignmentFactory(initiative=initiative_a, role="risk_owner", user=member_a)
    _overdue_review(initiative_a)
    tasks.scan_run("risk_reviews_overdue", today=TODAY)
    assert set(Notification.objects.values_list("user__username", flat=True)) == {
        "lead-a",
        "member-a",
    }

    Notification.objects.all().delete()
    AssignmentFactory(initiative=initiative_a, role="operator", user=lead_b)
    IncidentFactory(initiative=initiative_a, review_due=TODAY - dt.timedelta(days=1))
    tasks.scan_run("incident_reviews_overdue", today=TODAY)
    # lead_b is named as operator on a unit A record but cannot see unit A: not told.
    assert not Notification.objects.filter(user=lead_b).exists()


def test_lead_b_inbox_never_contains_unit_a_findings_across_all_jobs(
    lead_a, lead_b, pmo, finance, initiative_a, initiative_b
):
    _overdue_review(initiative_a)
    IncidentFactory(initiative=initiative_a, review_due=TODAY - dt.timedelta(days=1))
    tasks.run_all(today=TODAY)
    unit_a_keys = set(
        Notification.objects.filter(user=lead_a)
        .exclude(kind="digest")
        .values_list("finding_key", flat=True)
    )
    assert unit_a_keys
    assert not Notification.objects.filter(user=lead_b, finding_key__in=unit_a_keys).exists()


def test_rerunning_a_job_in_the_same_week_notifies_and_emails_nobody_again(lead_a, initiative_a):
    _overdue_review(initiative_a)
    first = tasks.scan_run("risk_reviews_overdue", today=TODAY)
    emails = len(mail.outbox)
    second = tasks.scan_run("risk_reviews_overdue", today=TODAY + dt.timedelta(days=2))
    assert first["notifications_created"] == 1
    assert second["findings"] == 1
    assert second["notifications_created"] == 0
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == emails == 0  # not urgent: it waits for the digest
    # The next ISO week, the finding is still open: told once more.
    third = tasks.scan_run("risk_reviews_overdue", today=TODAY + dt.timedelta(days=7))
    assert third["notifications_created"] == 1


def test_each_run_is_recorded_as_a_job_with_its_report(lead_a, pmo, initiative_a):
    _overdue_review(initiative_a)
    tasks.scan_run("risk_reviews_overdue", today=TODAY, requested_by=pmo)
    job = Job.objects.get(kind="scan:risk_reviews_overdue")
    assert job.status == Job.Status.SUCCEEDED
    assert job.requested_by == pmo
    assert job.report["findings"] == 1
    assert job.report["notifications_created"] == 1


def test_a_failing_scan_is_recorded_as_failed(monkeypatch, lead_a):
    def broken(*, today):
        raise RuntimeError("selector exploded")

    monkeypatch.setattr("governance.findings.overdue_risk_reviews", broken)
    with pytest.raises(RuntimeError):
        tasks.scan_run("risk_reviews_overdue", today=TODAY)
    job = Job.objects.get(kind="scan:risk_reviews_overdue")
    assert job.status == Job.Status.FAILED
    assert "selector exploded" in job.message


def test_group_findings_reach_every_member_of_the_group(pmo, lead_a, lead_b, unit_a):
    finding = Finding(
        kind="stalled_initiative",
        key="stalled:1:x",
        business_unit_id=unit_a.pk,
        title="t",
        groups=("PMO",),
    )
    drafts = tasks.findings_to_drafts([finding], period="2026-W48")
    assert {d.user_id for d in drafts} == {pmo.pk, lead_a.pk}


def test_weekly_digest_summarises_the_portfolio_for_the_pmo_and_emails_each_lead_once(
    lead_a, lead_b, pmo, initiative_a, initiative_a_child, initiative_b
):
    _overdue_review(initiative_a)
    _overdue_review(initiative_a_child)
    _overdue_review(initiative_b)
    IncidentFactory(initiative=initiative_a, review_due=TODAY - dt.timedelta(days=1))
    for name in tasks.SCANS:
        tasks.scan_run(name, today=TODAY)
    report = tasks.digest_run(today=TODAY)
    digest_pmo = Notification.objects.get(user=pmo, kind="digest")
    assert "Overdue risk reviews: 3" in digest_pmo.body
    # Leads get no summary row repeating their own items.
    assert not Notification.objects.filter(user__in=[lead_a, lead_b], kind="digest").exists()
    assert report["notifications_created"] == 1
    to_a = [m for m in mail.outbox if m.to == [lead_a.email]]
    assert len(to_a) == 1
    assert "Overdue risk reviews (2)" in to_a[0].body
    assert "Overdue post-incident reviews (1)" in to_a[0].body
    assert tasks.digest_run(today=TODAY)["notifications_created"] == 0


def test_access_review_campaigns_open_once_per_top_level_unit_per_quarter(
    lead_a, lead_b, unit_a, unit_a_child, unit_b
):
    report = tasks.access_reviews_open_run()
    assert report["opened"] == 2
    reviews = AccessReview.objects.order_by("business_unit__code")
    assert [(r.business_unit, r.reviewer) for r in reviews] == [(unit_a, lead_a), (unit_b, lead_b)]
    assert tasks.access_reviews_open_run()["opened"] == 0
    # The reviewer hears about the open campaign from the weekly scan.
    tasks.scan_run("access_reviews_open")
    assert Notification.objects.filter(user=lead_a, kind="access_review_open").count() == 1
    assert not Notification.objects.filter(
        user=lead_b, finding_key=f"access_review_open:{reviews[0].pk}"
    ).exists()


def test_access_review_campaign_recorded_under_the_requesting_user(pmo, lead_a, unit_a):
    import pghistory.models

    tasks.access_reviews_open_run(requested_by=pmo)
    review = AccessReview.objects.get()
    event = pghistory.models.Events.objects.filter(
        pgh_obj_model="governance.AccessReview", pgh_obj_id=review.pk
    ).first()
    assert event is not None
    assert event.pgh_context["user"] == pmo.pk


def test_run_periodic_jobs_command_fills_inboxes_and_is_safe_to_rerun(
    lead_a, pmo, initiative_a, capsys
):
    _overdue_review(initiative_a)
    call_command("run_periodic_jobs", "--no-email", "--today", TODAY.isoformat())
    out = capsys.readouterr().out
    assert "risk_reviews_overdue: period=2026-W48, findings=1" in out
    count = Notification.objects.count()
    assert Notification.objects.filter(user=lead_a, kind="risk_review_overdue").exists()
    assert Notification.objects.filter(user=pmo, kind="digest").exists()
    assert not mail.outbox
    call_command("run_periodic_jobs", "--no-email", "--today", TODAY.isoformat())
    assert Notification.objects.count() == count


def test_run_periodic_jobs_rejects_an_unknown_scan():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown scan nope"):
        call_command("run_periodic_jobs", "--only", "nope")


def test_default_schedules_exist_for_every_scan_and_the_digest(default_schedules):
    import json

    from django_celery_beat.models import PeriodicTask

    scheduled = {
        json.loads(t.args)[0]
        for t in PeriodicTask.objects.filter(task="portfolio.tasks.run_scan", enabled=True)
    }
    assert scheduled == set(tasks.SCANS)
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    count = PeriodicTask.objects.count()
    default_schedules.create_defaults(apps, None)
    assert PeriodicTask.objects.count() == count  # idempotent: the PMO's edits survive
    assert {
        "portfolio.tasks.weekly_digest",
        "portfolio.tasks.open_access_reviews",
        "portfolio.tasks.heartbeat",
    } <= names


def test_tasks_retry_transient_errors_with_backoff_and_have_time_limits():
    from django.db import OperationalError

    for task in (tasks.run_scan, tasks.weekly_digest, tasks.open_access_reviews):
        assert OperationalError in task.autoretry_for
        assert task.retry_backoff
        assert task.soft_time_limit and task.time_limit > task.soft_time_limit


def test_a_task_for_an_unknown_scan_exits_quietly():
    assert tasks.run_scan.run("no_such_scan") == {"scan": "no_such_scan", "skipped": "unknown scan"}
    assert not Job.objects.exists()


def test_a_findings_link_resolves_to_a_page_for_the_record(lead_a, initiative_a):
    from django.urls import resolve

    _overdue_review(initiative_a)
    tasks.scan_run("risk_reviews_overdue", today=TODAY)
    url = Notification.objects.get(user=lead_a).url
    assert url.startswith("/")
    assert resolve(url.split("?")[0]).url_name in {
        "risk_assessment_detail",
        "initiative_detail",
        "governance_riskassessment_change",
    }


def test_a_lead_gets_one_email_per_weekly_run_not_one_per_scan(
    lead_a, pmo, initiative_a, initiative_a_child
):
    """The weekly run used to send a lead 9 emails: one per scan plus a digest."""
    _overdue_review(initiative_a)
    IncidentFactory(initiative=initiative_a, review_due=TODAY - dt.timedelta(days=1))
    AssignmentFactory(initiative=initiative_a_child)
    tasks.run_all(today=TODAY)
    per_person = {}
    for message in mail.outbox:
        per_person[message.to[0]] = per_person.get(message.to[0], 0) + 1
    assert per_person[lead_a.email] == 1
    assert max(per_person.values()) == 1
    # A second run in the same week sends nothing more.
    tasks.run_all(today=TODAY + dt.timedelta(days=1))
    assert sum(1 for m in mail.outbox if m.to == [lead_a.email]) == 1


def test_people_choosing_daily_digest_or_no_email(lead_a, member_a, initiative_a):
    NotificationPreferenceFactory(user=lead_a, email_frequency="daily")
    NotificationPreferenceFactory(user=member_a, email_frequency="never")
    AssignmentFactory(initiative=initiative_a, user=member_a, role="requirements_owner")
    _overdue_review(initiative_a)
    tasks.run_all(today=TODAY)
    assert not [m for m in mail.outbox if m.to in ([lead_a.email], [member_a.email])]
    assert tasks.email_digest_run(frequency="daily")["emails_sent"] == 1
    assert [m.to for m in mail.outbox if m.to == [lead_a.email]] == [[lead_a.email]]
    assert tasks.email_digest_run(frequency="daily")["emails_sent"] == 0


def test_a_finding_told_again_next_week_supersedes_last_weeks_unread_copy(lead_a, initiative_a):
    _overdue_review(initiative_a)
    tasks.scan_run("risk_reviews_overdue", today=TODAY)
    tasks.scan_run("risk_reviews_overdue", today=TODAY + dt.timedelta(days=7))
    tasks.scan_run("risk_reviews_overdue", today=TODAY + dt.timedelta(days=14))
    assert Notification.objects.filter(user=lead_a).count() == 3
    assert Notification.objects.filter(user=lead_a, read_at__isnull=True).count() == 1
