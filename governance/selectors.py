"""Reads for governance: gate checklists, blocked and stalled initiatives, history.

Everything scoped goes through ``visible_to(user)``; rollups are computed by the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone

from governance.checks import RULES, evaluate_rules, stage_position
from governance.models import (
    Control,
    ControlAttestation,
    GateCriterionResult,
    GateReview,
    ModelVersion,
    Standard,
    Waiver,
)
from people.roles import AUDITOR, PMO
from portfolio.choices import ACTIVE_STAGES
from portfolio.models import Initiative

# --- Stage gates -------------------------------------------------------------------------


def applicable_standards(*, risk_tier: str, target_stage: str) -> QuerySet[Standard]:
    """Active standards checked before ``target_stage`` for an initiative of ``risk_tier``
    (a standard with no tiers applies to all)."""
    return Standard.objects.filter(active=True, target_stage=target_stage).filter(
        Q(applies_to_tiers__len=0) | Q(applies_to_tiers__contains=[risk_tier])
    )


def missing_controls(*, initiative: Initiative, target_stage: str, today=None) -> list[Control]:
    """Controls the initiative's tier requires by ``target_stage`` that have no valid
    attestation (attested or not applicable, and not expired). One query."""
    today = today or timezone.localdate()
    valid = ControlAttestation.objects.filter(
        initiative_id=initiative.pk,
        control_id=OuterRef("pk"),
        status__in=[ControlAttestation.Status.ATTESTED, ControlAttestation.Status.NOT_APPLICABLE],
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    return list(
        Control.objects.applicable(tier=initiative.risk_tier, source=initiative.source)
        .annotate(from_pos=stage_position(F("applies_from_stage")))
        .filter(from_pos__lte=list(ACTIVE_STAGES).index(target_stage) + 1)
        .filter(~Exists(valid))
        .order_by("code")
    )


@dataclass
class ChecklistLine:
    standard: Standard
    met: bool
    detail: str = ""
    evidence: str = ""
    waiver: Waiver | None = None

    # The same names as a stored GateCriterionResult, so templates show either.
    code = property(lambda self: self.standard.code)
    name = property(lambda self: self.standard.name)
    mandatory = property(lambda self: self.standard.mandatory)
    check_rule = property(lambda self: self.standard.check_rule)
    standard_id = property(lambda self: self.standard.pk)

    def get_dimension_display(self) -> str:
        return self.standard.get_dimension_display()

    @property
    def manual(self) -> bool:
        return self.standard.check_rule not in RULES

    @property
    def blocking(self) -> bool:
        return self.standard.mandatory and not self.met and self.waiver is None


@dataclass
class Checklist:
    lines: list[ChecklistLine] = field(default_factory=list)

    @property
    def blocking(self) -> list[ChecklistLine]:
        return [line for line in self.lines if line.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking


def compute_checklist(
    *,
    initiative: Initiative,
    target_stage: str,
    review: GateReview | None = None,
    today: date | None = None,
) -> Checklist:
    """The gate's checklist from the standards and the initiative's records, now.

    Automatic rules are evaluated in one query; manual criteria are met when the team
    has given evidence on this review; waivers come from the review. Four queries."""
    standards = list(
        applicable_standards(risk_tier=initiative.risk_tier, target_stage=target_stage)
    )
    results = evaluate_rules(
        initiative.pk, target_stage, [s.check_rule for s in standards], today=today
    )
    evidence, waivers = {}, {}
    if review is not None and review.pk:
        evidence = {
            r.standard_id: r.evidence
            for r in GateCriterionResult.objects.filter(review=review).exclude(evidence="")
        }
        waivers = {w.standard_id: w for w in Waiver.objects.filter(review=review)}
    lines = []
    for std in standards:
        if std.check_rule in RULES:
            met = bool(results.get(std.check_rule))
            detail = "" if met else RULES[std.check_rule].detail_unmet
        else:
            met = bool(evidence.get(std.pk))
            detail = "" if met else "Manual criterion: the team has not given evidence yet."
        lines.append(
            ChecklistLine(
                standard=std,
                met=met,
                detail=detail,
                evidence=evidence.get(std.pk, ""),
                waiver=waivers.get(std.pk),
            )
        )
    return Checklist(lines=lines)


def gate_reviews_for(user) -> QuerySet[GateReview]:
    """Gate reviews the user may see, with the counts the lists show (from the snapshot
    refreshed at request, on evidence, on recheck and nightly)."""
    return (
        GateReview.objects.visible_to(user)
        .select_related("initiative", "business_unit", "requested_by", "decided_by")
        .annotate(
            criteria_total=Count("criteria", distinct=True),
            blocking_count=Count(
                "criteria",
                filter=Q(criteria__mandatory=True, criteria__met=False),
                distinct=True,
            ),
        )
    )


def blocked_gate_reviews(user) -> QuerySet[GateReview]:
    """Open gate reviews with at least one mandatory criterion unmet: what PMO chases."""
    return gate_reviews_for(user).filter(status=GateReview.Status.OPEN, blocking_count__gt=0)


def blocking_criteria_for(reviews) -> dict[int, list[GateCriterionResult]]:
    """The unmet mandatory criteria of a page of reviews, in one query."""
    out: dict[int, list[GateCriterionResult]] = {}
    for row in GateCriterionResult.objects.filter(
        review__in=[r.pk for r in reviews], mandatory=True, met=False
    ).order_by("review_id", "code"):
        out.setdefault(row.review_id, []).append(row)
    return out


# --- Stall rules ---------------------------------------------------------------------------


def stalled_initiatives(
    user, *, now: datetime | None = None, today: date | None = None
) -> QuerySet[Initiative]:
    """Visible stalled initiatives by the one stall rule (``InitiativeQuerySet.with_stall``:
    past the stage's limit, idle for its inactivity period by the business dates of the
    records, or with a stall review awaiting its decision), judged on ``today`` (or the
    day of ``now``). Each row carries ``limit_days``, ``inactivity_days``,
    ``days_in_stage``, ``days_idle``, ``last_activity_on``, ``past_limit``, ``inactive``
    and ``stall_review_open``, and the open stall review's deadline
    (``decision_due_on``) and escalation level."""
    if today is None:
        today = timezone.localdate(now) if now is not None else timezone.localdate()
    open_review = GateReview.objects.filter(
        initiative_id=OuterRef("pk"), reason=GateReview.Reason.STALLED, status="open"
    )
    return (
        Initiative.objects.visible_to(user)
        .stalled(today=today)
        .annotate(
            review_id=Subquery(open_review.values("pk")[:1]),
            decision_due_on=Subquery(open_review.values("decision_due_on")[:1]),
            escalation_level=Subquery(open_review.values("escalation_level")[:1]),
        )
        .select_related("business_unit")
    )


# --- Model registry --------------------------------------------------------------------------


def production_version_on(*, ai_system, when: datetime) -> ModelVersion | None:
    """The version of ``ai_system`` that was in production at ``when``, answered from the
    audit trail: the recorded states in which a version entered production (its
    ``deployed_at``) and left it (its ``retired_at``), so later edits to the live rows
    cannot change the answer."""
    event_model = apps.get_model("governance", "ModelVersionEvent")
    left_production = (
        event_model.objects.filter(pgh_obj_id=OuterRef("pgh_obj_id"), retired_at__isnull=False)
        .order_by("retired_at")
        .values("retired_at")[:1]
    )
    hit = (
        event_model.objects.filter(
            ai_system_id=ai_system.pk,
            status=ModelVersion.Status.PRODUCTION,
            deployed_at__lte=when,
        )
        .annotate(left_at=Subquery(left_production))
        .filter(Q(left_at__isnull=True) | Q(left_at__gt=when))
        .order_by("-deployed_at", "-pgh_id")
        .values_list("pgh_obj_id", flat=True)
        .first()
    )
    if hit is None:
        return None
    return ModelVersion.objects.filter(pk=hit).first()


# --- Audit trail -------------------------------------------------------------------------------


def can_read_audit_log(user) -> bool:
    """The cross-record audit log is for PMO and auditors (and superusers). Unit leads read
    each of their records' history on the record's own page instead, which keeps the
    scoping rule in one place (the record's ``visible_to``)."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name__in=[PMO, AUDITOR]).exists()


def _events_model():
    from pghistory.models import MiddlewareEvents

    return MiddlewareEvents


HIDDEN_DIFF_FIELDS = {"updated_at", "created_at"}


def _attach_users(events) -> None:
    User = get_user_model()
    ids = {e.pgh_context.get("user") for e in events if e.pgh_context}
    ids.discard(None)
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)} if ids else {}
    for e in events:
        uid = (e.pgh_context or {}).get("user")
        e.actor = users.get(uid)
        e.changes = [
            (name, old, new)
            for name, (old, new) in sorted((e.pgh_diff or {}).items())
            if name not in HIDDEN_DIFF_FIELDS
        ]


def object_history(obj) -> list:
    """Every audit event of one record, oldest first, with the actor and the field diffs.
    Two queries. The caller has already checked the user may see ``obj``."""
    events = list(_events_model().objects.tracks(obj).order_by("pgh_created_at", "pgh_id"))
    _attach_users(events)
    return events


def audited_models() -> list[tuple[str, str, str]]:
    """(event model label, tracked model label, verbose name) for every audited model."""
    import pghistory.models as pgh_models

    out = []
    for model in apps.get_models():
        if issubclass(model, pgh_models.Event) and getattr(model, "pgh_tracked_model", None):
            tracked = model.pgh_tracked_model
            out.append(
                (
                    model._meta.label,
                    tracked._meta.label,
                    str(tracked._meta.verbose_name).capitalize(),
                )
            )
    return sorted(out, key=lambda x: x[2])


@dataclass
class AuditEvent:
    """One row of the audit log: a change to one record, who made it, and what changed."""

    pgh_model: str
    pgh_id: int
    pgh_created_at: datetime
    pgh_label: str
    pgh_obj_model: str
    pgh_obj_id: str
    pgh_context: dict | None
    pgh_diff: dict | None = None
    actor: object = None
    changes: list = field(default_factory=list)


class AuditLog:
    """The trail across every event table (or one), newest first, for Django's Paginator.

    Listing reads only narrow columns from each event table (a UNION ALL with the
    filters pushed into every branch); the field diffs are computed for the page's rows
    only, in one more query. pghistory's aggregate ``Events`` computes a diff for every
    event before sorting, which grows with the whole trail."""

    def __init__(
        self,
        *,
        event_model=None,
        user_id=None,
        object_id=None,
        date_from=None,
        date_to=None,
        references=None,
    ):
        from datetime import time, timedelta

        self.models = [
            m for m in _event_models() if event_model is None or m._meta.label == event_model
        ]
        # ``references``: only events of records pointing at this object (and its own),
        # through the event tables' copies of the foreign keys (pghistory's
        # ``Events.references``, without computing a diff for every matching event).
        self.references, self.reference_columns = references, {}
        if references is not None:
            target = references._meta.concrete_model
            for m in self.models:
                columns = [
                    f.column
                    for f in m._meta.fields
                    if f.is_relation
                    and f.related_model is not None
                    and f.related_model._meta.concrete_model is target
                ]
                if columns:
                    self.reference_columns[m] = columns
            self.models = [m for m in self.models if m in self.reference_columns]
        self.where, self.params = [], []
        if user_id:
            self.where.append("(c.metadata->>'user') = %s")
            self.params.append(str(user_id))
        if object_id:
            self.where.append("e.pgh_obj_id::text = %s")
            self.params.append(str(object_id))
        tz = timezone.get_current_timezone()
        if date_from:
            self.where.append("e.pgh_created_at >= %s")
            self.params.append(datetime.combine(date_from, time.min, tzinfo=tz))
        if date_to:
            self.where.append("e.pgh_created_at < %s")
            self.params.append(datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz))

    def _union(self, columns: str) -> tuple[str, list]:
        from pghistory.models import Context

        parts, params = [], []
        for m in self.models:
            conditions, extra = list(self.where), []
            if self.references is not None:
                cols = self.reference_columns[m]
                conditions.append("(" + " OR ".join(f'e."{c}" = %s' for c in cols) + ")")
                extra = [self.references.pk] * len(cols)
            where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
            parts.append(
                f"SELECT %s AS pgh_model, %s AS obj_model, {columns} "
                f'FROM "{m._meta.db_table}" e '
                f'LEFT JOIN "{Context._meta.db_table}" c ON c.id = e.pgh_context_id{where}'
            )
            params += [m._meta.label, m.pgh_tracked_model._meta.label, *self.params, *extra]
        return " UNION ALL ".join(parts), params

    def count(self) -> int:
        if not self.models:
            return 0
        sql, params = self._union("1 AS one")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({sql}) t", params)
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if isinstance(item, int):
            return self[item : item + 1][0]
        if not self.models:
            return []
        start, stop = item.start or 0, item.stop
        sql, params = self._union(
            "e.pgh_id, e.pgh_created_at, e.pgh_label, e.pgh_obj_id::text AS obj_id, c.metadata AS ctx"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT * FROM ({sql}) t ORDER BY pgh_created_at DESC, pgh_id DESC "
                "LIMIT %s OFFSET %s",
                [*params, stop - start, start],
            )
            rows = [
                AuditEvent(
                    pgh_model=r[0],
                    pgh_obj_model=r[1],
                    pgh_id=r[2],
                    pgh_created_at=r[3],
                    pgh_label=r[4],
                    pgh_obj_id=r[5],
                    pgh_context=_json(r[6]),
                )
                for r in cursor.fetchall()
            ]
        _attach_diffs(rows)
        _attach_users(rows)
        return rows


def _json(value):
    """Django's psycopg setup hands raw jsonb back as text; decode it here."""
    import json

    if value is None or isinstance(value, dict):
        return value
    return json.loads(value)


def _event_models():
    import pghistory.models as pgh_models

    return [
        m
        for m in apps.get_models()
        if issubclass(m, pgh_models.Event) and getattr(m, "pgh_tracked_model", None)
    ]


def _attach_diffs(rows: list[AuditEvent]) -> None:
    """The field diff of each row against the previous event of the same record, for a
    page of rows in one query. ``ORDER BY pgh_id + 0``: ordered by the bare key, the
    planner walks the primary key backwards from each row looking for the record's
    previous event, which for a record's first event means the whole table (20 s per
    page with a million spend events); this way it reads the record's few events
    through the ``pgh_obj_id`` index and sorts them."""
    by_model: dict[str, list[int]] = {}
    for r in rows:
        by_model.setdefault(r.pgh_model, []).append(r.pgh_id)
    if not by_model:
        return
    tables = {m._meta.label: m._meta.db_table for m in _event_models()}
    parts, params = [], []
    for label, ids in by_model.items():
        t = tables[label]
        parts.append(
            f"SELECT %s, e.pgh_id, row_to_json(e)::jsonb, "
            f'(SELECT row_to_json(p)::jsonb FROM "{t}" p WHERE p.pgh_obj_id = e.pgh_obj_id '
            f"AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id + 0 DESC LIMIT 1) "
            f'FROM "{t}" e WHERE e.pgh_id = ANY(%s)'
        )
        params += [label, ids]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        data = {
            (label, pk): (_json(cur), _json(prev)) for label, pk, cur, prev in cursor.fetchall()
        }
    for r in rows:
        cur, prev = data.get((r.pgh_model, r.pgh_id), (None, None))
        if cur is None or prev is None:
            r.pgh_diff = None
            continue
        r.pgh_diff = {
            k: [prev.get(k), v]
            for k, v in cur.items()
            if not k.startswith("pgh_") and prev.get(k) != v
        }


def audit_log(
    *,
    event_model: str | None = None,
    user_id: int | None = None,
    object_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> AuditLog:
    """The searchable trail across all audited models (or one), newest first: pass it to
    a Paginator. Only for users passing ``can_read_audit_log``."""
    return AuditLog(
        event_model=event_model,
        user_id=user_id,
        object_id=object_id,
        date_from=date_from,
        date_to=date_to,
    )


def attach_event_users(events) -> None:
    _attach_users(events)


# --- Stall decisions ---------------------------------------------------------------------


def overdue_stall_decisions(user, *, today: date | None = None) -> QuerySet[GateReview]:
    """Open stall reviews past their decision deadline, oldest deadline first, with
    ``days_overdue``."""
    from portfolio.querysets import days_between

    today = today or timezone.localdate()
    return (
        GateReview.objects.visible_to(user)
        .filter(
            reason=GateReview.Reason.STALLED,
            status=GateReview.Status.OPEN,
            decision_due_on__lt=today,
        )
        .annotate(days_overdue=days_between(Value(today), F("decision_due_on")))
        .select_related("initiative", "business_unit")
        .order_by("decision_due_on", "pk")
    )


def stall_decision_times(user) -> list[dict]:
    """Per unit: decided stall reviews, and the median and 90th percentile of the days
    from asking to deciding. One query."""
    from portfolio.querysets import PercentileCont

    days = Func(
        F("decided_at") - F("requested_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s) / 86400.0",
        output_field=FloatField(),
    )
    return list(
        GateReview.objects.visible_to(user)
        .filter(reason=GateReview.Reason.STALLED, status=GateReview.Status.DECIDED)
        .values("business_unit_id", "business_unit__name")
        .annotate(
            decided=Count("pk"),
            median_days=PercentileCont(days, 0.5),
            p90_days=PercentileCont(days, 0.9),
        )
        .order_by("business_unit__name")
    )
