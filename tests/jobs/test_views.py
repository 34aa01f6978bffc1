"""Inbox, unread badge, preferences, PMO job-runs page and /healthz's beat report."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from people.models import Job, Notification, NotificationPreference

pytestmark = pytest.mark.django_db


def _notify(user, n=1, **kw):
    return [
        Notification.objects.create(
            user=user,
            kind="risk_review_overdue",
            finding_key=f"risk_review_overdue:{user.pk}:{i}",
            period="2026-W48",
            title=kw.get("title", f"Risk review {i} overdue"),
            url=kw.get("url", "/admin/"),
        )
        for i in range(n)
    ]


def test_inbox_lists_only_my_notifications_with_the_unread_badge(client, lead_a, lead_b):
    _notify(lead_a, 2, title="Unit A thing")
    _notify(lead_b, 1, title="Unit B thing")
    client.force_login(lead_b)
    response = client.get(reverse("people:inbox"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Unit B thing" in body
    assert "Unit A thing" not in body
    assert "data-unread-count>1</span>" in body


def test_user_cannot_mark_another_users_notification_read(client, lead_a, lead_b):
    [item] = _notify(lead_a)
    client.force_login(lead_b)
    assert client.post(reverse("people:inbox_mark_read", args=[item.pk])).status_code == 404
    assert client.get(reverse("people:inbox_open", args=[item.pk])).status_code == 404
    item.refresh_from_db()
    assert item.read_at is None


def test_mark_read_and_mark_all_read(client, lead_a, lead_b):
    first, *rest = _notify(lead_a, 3)
    [other] = _notify(lead_b)
    client.force_login(lead_a)
    response = client.post(reverse("people:inbox_mark_read", args=[first.pk]))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.read_at is not None
    assert Notification.objects.filter(user=lead_a, read_at__isnull=True).count() == 2
    client.post(reverse("people:inbox_mark_all_read"))
    assert not Notification.objects.filter(user=lead_a, read_at__isnull=True).exists()
    other.refresh_from_db()
    assert other.read_at is None


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, lead_a):
    [item] = _notify(lead_a, url="/people/inbox/?show=all")
    client.force_login(lead_a)
    response = client.get(reverse("people:inbox_open", args=[item.pk]))
    assert response.status_code == 302
    assert response["Location"] == "/people/inbox/?show=all"
    item.refresh_from_db()
    assert item.read_at is not None


def test_an_offsite_link_is_never_followed(client, lead_a):
    [item] = _notify(lead_a, url="https://evil.example/")
    client.force_login(lead_a)
    response = client.get(reverse("people:inbox_open", args=[item.pk]))
    assert response["Location"] == reverse("people:inbox")


def test_user_chooses_how_often_to_be_emailed_on_the_settings_page(client, lead_a):
    client.force_login(lead_a)
    page = client.get(reverse("people:inbox_preferences"))
    assert page.status_code == 200 and b"A weekly digest" in page.content
    response = client.post(reverse("people:inbox_preferences"), {"email_frequency": "daily"})
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=lead_a).email_frequency == "daily"
    bad = client.post(reverse("people:inbox_preferences"), {"email_frequency": "carrier-pigeon"})
    assert bad.status_code == 400
    assert NotificationPreference.objects.get(user=lead_a).email_frequency == "daily"


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_inbox_query_count_is_the_same_with_5_and_50_rows(client, lead_a):
    client.force_login(lead_a)
    url = reverse("people:inbox") + "?show=all"
    _notify(lead_a, 5)
    client.get(url)  # warm the session
    with_5 = _queries(client, url)
    Notification.objects.filter(user=lead_a).delete()
    _notify(lead_a, 50)
    assert _queries(client, url) == with_5 <= 7


def test_job_runs_page_is_for_pmo_only(client, lead_a, pmo, default_schedules):
    client.force_login(lead_a)
    assert client.get(reverse("people:job_runs")).status_code == 403
    task = PeriodicTask.objects.get(name="Weekly digest")
    assert client.post(reverse("people:job_run_now", args=[task.pk])).status_code == 403
    client.force_login(pmo)
    assert client.get(reverse("people:job_runs")).status_code == 200


def test_job_runs_query_count_is_the_same_with_5_and_50_rows(client, pmo):
    from django_celery_results.models import TaskResult

    def add(start, stop):
        for i in range(start, stop):
            Job.objects.create(
                kind="scan:risk_reviews_overdue",
                requested_by=pmo,
                status="succeeded",
                started_at=timezone.now(),
                finished_at=timezone.now(),
                message=f"run {i}",
            )
            TaskResult.objects.create(
                task_id=f"t-{i}", task_name="portfolio.tasks.run_scan", status="SUCCESS"
            )

    client.force_login(pmo)
    url = reverse("people:job_runs")
    add(0, 5)
    client.get(url)
    with_5 = _queries(client, url)
    add(5, 50)
    assert _queries(client, url) == with_5 <= 8


def test_run_now_queues_the_schedules_task_on_commit(
    default_schedules, client, pmo, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "celery.app.base.Celery.send_task",
        lambda self, name, args=None, kwargs=None, **kw: sent.append((name, args, kwargs)),
    )
    task = PeriodicTask.objects.get(name="Scan: overdue risk reviews")
    client.force_login(pmo)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("people:job_run_now", args=[task.pk]))
    assert response.status_code == 302
    assert sent == [
        ("portfolio.tasks.run_scan", ["risk_reviews_overdue"], {"requested_by_id": pmo.pk})
    ]


def test_healthz_reports_when_a_worker_last_ran_the_heartbeat(client, default_schedules):
    from people.models import Heartbeat

    body = client.get("/healthz").json()
    assert {"status", "database", "broker", "beat"} <= set(body)
    assert body["beat"]["last_heartbeat_at"] is None
    assert body["beat"]["ok"] is False
    last = timezone.now() - dt.timedelta(minutes=3)
    Heartbeat.objects.create(name="beat", beat_at=last)
    response = client.get("/healthz")
    assert response.status_code == 200
    beat = response.json()["beat"]
    assert beat["ok"] is True
    assert beat["last_heartbeat_at"] == last.isoformat()
    assert 170 <= beat["age_seconds"] <= 200
