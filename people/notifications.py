"""The notify service: turn findings into inbox items, once per person per finding per period.

A job computes its findings, resolves who must be told, and hands ``notify`` a list of
``Draft`` rows. The database's unique constraint on ``(user, finding_key, period)``
decides what is new (``INSERT ... ON CONFLICT DO NOTHING RETURNING``), so re-running a
job, or two workers running the same job at once, never gives anyone a second copy.

Email is a digest: one message per person per period (``notifications_email_digest``,
sent by the weekly digest job, and daily for people who chose daily), with the items
grouped by kind. Only urgent drafts (``Draft.urgent``) are emailed when they are created,
one message per person per call. ``NotificationPreference.email_frequency`` says weekly
(the default), daily or never; people without an address get no email.

When a finding is told again in a new period, the person's unread copies of it from
earlier periods are marked read: the inbox holds the current state, not one row per week.

``people`` knows nothing of initiatives: callers pass plain strings and ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from people.models import Notification, NotificationPreference


@dataclass(frozen=True)
class Draft:
    """One inbox item for one person."""

    user_id: int
    kind: str
    finding_key: str
    period: str
    title: str
    body: str = ""
    url: str = ""
    urgent: bool = False  # emailed at once, not with the digest


def week_period(day: dt.date) -> str:
    """ISO week key, e.g. ``2026-W48``: weekly jobs tell each person once a week."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_period(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


def quarter_period(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


_INSERT_SQL = """
INSERT INTO people_notification
    (user_id, kind, finding_key, period, title, body, url, urgent, created_at)
SELECT d.user_id, d.kind, d.finding_key, d.period, d.title, d.body, d.url, d.urgent, %s
FROM unnest(
    %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[],
    %s::varchar[], %s::text[], %s::varchar[], %s::boolean[]
) AS d(user_id, kind, finding_key, period, title, body, url, urgent)
ON CONFLICT (user_id, finding_key, period) DO NOTHING
RETURNING id
"""

# The new rows' earlier unread copies (same person, same finding, older period) are
# superseded: marked read, so the inbox shows each finding once.
_SUPERSEDE_SQL = """
UPDATE people_notification old SET read_at = %s
FROM people_notification new
WHERE new.id = ANY(%s) AND old.user_id = new.user_id AND old.finding_key = new.finding_key
  AND old.id <> new.id AND old.read_at IS NULL AND old.created_at <= new.created_at
"""


def _dedupe(drafts: Iterable[Draft]) -> list[Draft]:
    """ON CONFLICT cannot resolve two rows of the same statement against each other."""
    seen: dict[tuple[int, str, str], Draft] = {}
    for draft in drafts:
        seen.setdefault((draft.user_id, draft.finding_key, draft.period), draft)
    return list(seen.values())


@transaction.atomic
def notify(*, drafts: Iterable[Draft], send_email: bool = True) -> list[int]:
    """Insert the drafts that are new for their period; email the urgent ones at once
    (the rest wait for the person's digest).

    Returns the ids of the notifications created by this call (empty on a re-run). The
    insert and the ``emailed_at`` stamp share a transaction: if the mail server fails,
    nothing is kept and a retry of the task starts over cleanly.
    """
    rows = _dedupe(drafts)
    if not rows:
        return []
    columns = list(
        zip(
            *(
                (
                    d.user_id,
                    d.kind,
                    d.finding_key[:200],
                    d.period,
                    d.title[:300],
                    d.body,
                    d.url[:500],
                    d.urgent,
                )
                for d in rows
            ),
            strict=True,
        )
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, [now, *[list(c) for c in columns]])
        new_ids = [row[0] for row in cursor.fetchall()]
        if new_ids:
            cursor.execute(_SUPERSEDE_SQL, [now, new_ids])
    if new_ids and send_email:
        urgent = [d for d in rows if d.urgent]
        if urgent:
            _email(Notification.objects.filter(pk__in=new_ids, urgent=True), digest=False)
    return new_ids


def _frequency_q(frequencies: Iterable[str]) -> Q:
    frequencies = list(frequencies)
    q = Q(user__notification_preference__email_frequency__in=frequencies)
    if NotificationPreference.EmailFrequency.WEEKLY in frequencies:
        q |= Q(user__notification_preference__isnull=True)  # the default
    return q


def _heading(kind: str, headings: dict[str, str]) -> str:
    return headings.get(kind) or kind.replace("_", " ").capitalize()


def _email(
    queryset, *, digest: bool, period_label: str = "", headings: dict[str, str] | None = None
) -> int:
    """One message per person for the un-emailed notifications in ``queryset`` (whose
    owners want email), items grouped under a heading per kind; stamps ``emailed_at``."""
    allowed = [
        NotificationPreference.EmailFrequency.WEEKLY,
        NotificationPreference.EmailFrequency.DAILY,
    ]
    pending = list(
        queryset.filter(emailed_at__isnull=True)
        .filter(_frequency_q(allowed))
        .exclude(user__email="")
        .filter(user__is_active=True)
        .select_related("user")
        .order_by("user_id", "-urgent", "kind", "title", "pk")
    )
    if not pending:
        return 0
    by_user: dict[int, list[Notification]] = {}
    for item in pending:
        by_user.setdefault(item.user_id, []).append(item)
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    messages = []
    for items in by_user.values():
        user = items[0].user
        if digest:
            subject = (
                f"Your {period_label} digest: {len(items)} item{'s' if len(items) > 1 else ''}"
            )
        elif len(items) == 1:
            subject = f"Urgent: {items[0].title}"
        else:
            subject = f"Urgent: {len(items)} items"
        lines = [f"Hello {user.get_full_name() or user.get_username()},", ""]
        groups: dict[str, list[Notification]] = {}
        for item in items:
            groups.setdefault(_heading(item.kind, headings or {}), []).append(item)
        for heading, group in groups.items():
            lines.append(f"{heading} ({len(group)})")
            for item in group:
                lines.append(f"- {item.title}")
                if item.body:
                    lines.append(f"  {item.body}")
                if item.url:
                    lines.append(f"  {base}{item.url}")
            lines.append("")
        lines.append(
            "Your inbox has every item. Choose a daily or weekly digest, or no email, "
            f"at {base}/people/inbox/preferences/."
        )
        messages.append(
            EmailMessage(
                subject=f"[AI Portfolio] {subject}"[:200],
                body="\n".join(lines),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[user.email],
            )
        )
    get_connection().send_messages(messages)
    Notification.objects.filter(pk__in=[n.pk for n in pending]).update(emailed_at=timezone.now())
    return len(messages)


def notifications_email(*, notification_ids: list[int]) -> int:
    """Email these notifications now (one message per person), whatever their urgency.
    Idempotent: ``emailed_at`` is stamped on what was sent."""
    return _email(Notification.objects.filter(pk__in=notification_ids), digest=False)


@transaction.atomic
def notifications_email_digest(*, frequency: str, headings: dict[str, str] | None = None) -> int:
    """The digest: to each person whose ``email_frequency`` is ``frequency`` (weekly
    includes people with no preference), one message with every notification not emailed
    yet and still unread, grouped by kind (``headings`` names each kind). Returns the
    number of messages sent.
    Idempotent: a second run finds nothing left to send."""
    label = {"weekly": "weekly", "daily": "daily"}[frequency]
    qs = Notification.objects.filter(read_at__isnull=True).filter(_frequency_q([frequency]))
    return _email(qs, digest=True, period_label=label, headings=headings)


def unread_count(user) -> int:
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_mark_read(*, acting_user, notification_id: int) -> Notification:
    """Mark one of the user's own notifications read. Someone else's is ``DoesNotExist``
    (the view turns it into a 404)."""
    item = Notification.objects.get(pk=notification_id, user=acting_user)
    if item.read_at is None:
        item.read_at = timezone.now()
        item.save(update_fields=["read_at"])
    return item


def notifications_mark_all_read(*, acting_user) -> int:
    return Notification.objects.filter(user=acting_user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notification_preference_set(*, acting_user, email_frequency: str) -> NotificationPreference:
    if email_frequency not in NotificationPreference.EmailFrequency.values:
        from django.core.exceptions import ValidationError

        raise ValidationError({"email_frequency": f"Unknown email frequency {email_frequency!r}."})
    pref, _ = NotificationPreference.objects.update_or_create(
        user=acting_user, defaults={"email_frequency": email_frequency}
    )
    return pref


def active_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Keep only users who can still sign in (no inbox items for deactivated accounts)."""
    ids = set(user_ids)
    if not ids:
        return set()
    return set(
        get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True)
    )


_UNIT_PEOPLE_SQL = """
WITH RECURSIVE up AS (
    SELECT bu.id AS unit_id, bu.id AS ancestor_id, bu.parent_id
    FROM people_businessunit bu WHERE bu.id = ANY(%s)
    UNION ALL
    SELECT up.unit_id, p.id, p.parent_id
    FROM up JOIN people_businessunit p ON p.id = up.parent_id
)
SELECT DISTINCT up.unit_id, m.user_id
FROM up
JOIN people_unitmembership m ON m.business_unit_id = up.ancestor_id AND m.role = ANY(%s)
JOIN auth_user u ON u.id = m.user_id AND u.is_active
"""


def unit_people_ids(unit_ids: Iterable[int], roles: Iterable[str]) -> dict[int, set[int]]:
    """For each unit, the active users holding one of ``roles`` on it or on a unit above
    it (a grant on a unit covers its children). One recursive query."""
    ids = sorted(set(unit_ids))
    result: dict[int, set[int]] = {unit_id: set() for unit_id in ids}
    if not ids:
        return result
    with connection.cursor() as cursor:
        cursor.execute(_UNIT_PEOPLE_SQL, [ids, list(roles)])
        for unit_id, user_id in cursor.fetchall():
            result[unit_id].add(user_id)
    return result


def unit_lead_ids(unit_ids: Iterable[int]) -> dict[int, set[int]]:
    """The leads who answer for each unit: ``UnitMembership`` role lead on the unit or
    any unit above it."""
    from people.models import UnitRole

    return unit_people_ids(unit_ids, [UnitRole.LEAD.value])


def unit_viewer_ids(unit_ids: Iterable[int]) -> dict[int, set[int]]:
    """Everyone with a unit role (lead, member, viewer) that lets them see the unit."""
    from people.models import UnitRole

    return unit_people_ids(unit_ids, UnitRole.values)


def global_role_user_ids() -> set[int]:
    """Active users who see every unit: members of a global role, and superusers."""
    from people.roles import GLOBAL_ROLES

    return set(
        get_user_model()
        .objects.filter(Q(groups__name__in=GLOBAL_ROLES) | Q(is_superuser=True), is_active=True)
        .values_list("pk", flat=True)
    )


def group_user_ids(group_name: str) -> set[int]:
    return set(
        get_user_model()
        .objects.filter(groups__name=group_name, is_active=True)
        .values_list("pk", flat=True)
    )
