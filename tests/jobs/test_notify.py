"""The notify service: one notification per person per finding per period, email by
preference."""

import datetime as dt

import pytest
from django.core import mail

from people.models import Notification, NotificationPreference
from people.notifications import (
    Draft,
    month_period,
    notifications_email_digest,
    notify,
    quarter_period,
    week_period,
)

pytestmark = pytest.mark.django_db


def _draft(user, key="risk_review_overdue:1", period="2026-W48", **kw):
    return Draft(
        user_id=user.pk,
        kind="risk_review_overdue",
        finding_key=key,
        period=period,
        title=kw.pop("title", "AI-A-1: risk review overdue"),
        url="/x/",
        **kw,
    )


def test_periods_are_iso_week_month_and_quarter():
    assert week_period(dt.date(2026, 11, 24)) == "2026-W48"
    assert week_period(dt.date(2027, 1, 1)) == "2026-W53"
    assert month_period(dt.date(2026, 11, 24)) == "2026-11"
    assert quarter_period(dt.date(2026, 11, 24)) == "2026-Q4"


def test_notifying_twice_in_a_period_creates_one_notification_and_one_digest_email(lead_a):
    first = notify(drafts=[_draft(lead_a)])
    second = notify(drafts=[_draft(lead_a)])
    assert len(first) == 1
    assert second == []
    assert Notification.objects.filter(user=lead_a).count() == 1
    assert mail.outbox == []  # not urgent: it waits for the digest
    assert notifications_email_digest(frequency="weekly") == 1
    assert notifications_email_digest(frequency="weekly") == 0
    assert mail.outbox[0].to == [lead_a.email]


def test_an_urgent_item_is_emailed_at_once(lead_a):
    notify(drafts=[_draft(lead_a, urgent=True, title="Critical incident on AI-A-1")])
    assert [m.subject for m in mail.outbox] == [
        "[AI Portfolio] Urgent: Critical incident on AI-A-1"
    ]
    assert notifications_email_digest(frequency="weekly") == 0  # already emailed


def test_the_same_finding_is_told_again_in_the_next_period(lead_a):
    notify(drafts=[_draft(lead_a, period="2026-W48")])
    assert len(notify(drafts=[_draft(lead_a, period="2026-W49")])) == 1
    assert Notification.objects.filter(user=lead_a).count() == 2


def test_duplicate_drafts_in_one_call_are_inserted_once(lead_a):
    assert len(notify(drafts=[_draft(lead_a), _draft(lead_a)])) == 1


def test_users_who_chose_no_email_get_none_not_even_urgent(lead_a, lead_b):
    NotificationPreference.objects.create(
        user=lead_a, email_frequency=NotificationPreference.EmailFrequency.NEVER
    )
    notify(drafts=[_draft(lead_a, urgent=True), _draft(lead_b, urgent=True)])
    assert [m.to for m in mail.outbox] == [[lead_b.email]]
    assert Notification.objects.get(user=lead_a).emailed_at is None
    assert Notification.objects.get(user=lead_b).emailed_at is not None


def test_several_new_items_for_one_person_make_one_grouped_digest(lead_a):
    notify(drafts=[_draft(lead_a, key="a"), _draft(lead_a, key="b", title="Second")])
    notifications_email_digest(frequency="weekly")
    assert len(mail.outbox) == 1
    assert "2 items" in mail.outbox[0].subject
    assert "Risk review overdue (2)" in mail.outbox[0].body
    assert "Second" in mail.outbox[0].body


def test_a_mail_server_failure_keeps_nothing_so_the_retry_tells_everyone(lead_a, settings):
    import smtplib

    settings.EMAIL_BACKEND = "tests.jobs.failing_email.EmailBackend"
    with pytest.raises(smtplib.SMTPException):
        notify(drafts=[_draft(lead_a, urgent=True)])
    assert not Notification.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert len(notify(drafts=[_draft(lead_a, urgent=True)])) == 1
    assert len(mail.outbox) == 1
