"""Reading the audit trail: the cross-record log, a record's history, an initiative's
History tab and ``/api/v1/audit-events/``, all from one selector (``AuditLog``).

- **Scoped per model.** Each event is shown only to a user who may read its model by the
  rule the rest of the app uses (``ScopedQuerySet.visible_unit_ids``, the one behind
  ``visible_to``), applied to the unit the event recorded: a CoE member without finance
  permissions sees no spend events, finance no incident notes.
- **Flat in the trail.** Pages are keyset-paged on (time, model, id) with every event
  table indexed on (``pgh_created_at``, ``pgh_id``): each table's branch reads at most a
  page of rows from its index, so a page costs the same with a million events as with
  ten. Counts are capped (``count(cap)``).
- **Readable.** Object names instead of ``model #id``, field labels, choices and foreign
  keys shown as names, inserts with their values; names come from one query per page.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from people.querysets import ScopedQuerySet
from people.roles import AUDITOR, PMO
from people.scoping import has_global

HIDDEN_FIELDS = {"updated_at", "created_at", "id"}
PAGE_SIZE = 50


def can_read_audit_log(user) -> bool:
    """The cross-record audit log is for PMO and auditors (and superusers). Unit leads read
    each of their records' history on the record's own page instead."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name__in=[PMO, AUDITOR]).exists()


def event_models() -> list[type[models.Model]]:
    import pghistory.models as pgh_models

    return sorted(
        (
            m
            for m in apps.get_models()
            if issubclass(m, pgh_models.Event) and getattr(m, "pgh_tracked_model", None)
        ),
        key=lambda m: m._meta.label,
    )


def audited_models() -> list[tuple[str, str, str]]:
    """(event model label, tracked model label, verbose name) for every audited model."""
    out = [
        (
            m._meta.label,
            m.pgh_tracked_model._meta.label,
            str(m.pgh_tracked_model._meta.verbose_name).capitalize(),
        )
        for m in event_models()
    ]
    return sorted(out, key=lambda x: x[2])


def find_event_model(label: str):
    """The event model for a tracked or event model label (any case), or ``None``."""
    wanted = (label or "").strip().lower()
    for m in event_models():
        if wanted in (m._meta.label_lower, m.pgh_tracked_model._meta.label_lower):
            return m
    return None


def event_scope(user, tracked_model) -> frozenset[int] | None:
    """The units whose events of ``tracked_model`` ``user`` may read; ``None``: all.

    The same rule as ``tracked_model.objects.visible_to(user)``; organisation-wide
    models (standards, controls) need the global view permission."""
    queryset = tracked_model._default_manager.all()
    if isinstance(queryset, ScopedQuerySet):
        return queryset.visible_unit_ids(user)
    opts = tracked_model._meta
    return None if has_global(user, f"{opts.app_label}.view_{opts.model_name}") else frozenset()


# --- Keyset cursors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in the trail's order: newest first by (time, model label, event id)."""

    created_at: datetime
    model: str
    pk: int

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.model, self.pk])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises ``ValueError`` for anything that is not a cursor this module wrote."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            when, model, pk = json.loads(raw)
            created_at = datetime.fromisoformat(when)
        except Exception as exc:
            raise ValueError("Not a valid page cursor.") from exc
        if not isinstance(model, str) or not isinstance(pk, int) or created_at.tzinfo is None:
            raise ValueError("Not a valid page cursor.")
        return cls(created_at, model, pk)


@dataclass
class AuditEvent:
    """One change to one record: who made it, when, and what changed (readable)."""

    pgh_model: str
    pgh_id: int
    pgh_created_at: datetime
    pgh_label: str
    pgh_obj_model: str
    pgh_obj_id: str
    pgh_context: dict | None
    pgh_data: dict | None = None
    pgh_diff: dict | None = None
    actor: object = None
    user_id: int | None = None
    url: str | None = None
    object_name: str = ""
    model_name: str = ""
    changes: list = field(default_factory=list)

    @property
    def pgh_slug(self) -> str:
        return f"{self.pgh_model}:{self.pgh_id}"

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.pgh_created_at, self.pgh_model, self.pgh_id)


@dataclass
class Page:
    events: list[AuditEvent]
    next: Cursor | None  # older events
    previous: Cursor | None  # newer events


class AuditLog:
    """The trail across every event table (or one), newest first.

    ``viewer``: show only what that user may read, model by model (``event_scope``).
    ``references``: the events of a record and of every record that belongs to it (a
    foreign key to it, or to a record that has one: an initiative's KPI measurements)."""

    def __init__(
        self,
        *,
        viewer=None,
        event_model: str | None = None,
        user_id: int | None = None,
        object_id: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        references: models.Model | None = None,
    ):
        selected = event_models()
        if event_model:
            wanted = find_event_model(event_model)
            selected = [m for m in selected if m is wanted]
        where, params = [], []
        if user_id:
            where.append(
                "e.pgh_context_id IN (SELECT id FROM pghistory_context "
                "WHERE (metadata->>'user') = %s)"
            )
            params.append(str(user_id))
        if object_id is not None and object_id != "":
            if not str(object_id).isdigit() or len(str(object_id)) > 18:
                selected = []
            else:
                where.append("e.pgh_obj_id = %s")
                params.append(int(object_id))
        tz = timezone.get_current_timezone()
        if date_from:
            where.append("e.pgh_created_at >= %s")
            params.append(datetime.combine(date_from, time.min, tzinfo=tz))
        if date_to:
            where.append("e.pgh_created_at < %s")
            params.append(datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz))
        self.branches: list[tuple[type[models.Model], list[str], list]] = []
        for m in selected:
            conditions, extra = list(where), list(params)
            if viewer is not None:
                scope = event_scope(viewer, m.pgh_tracked_model)
                if scope is not None:
                    if not scope:
                        continue
                    column = _scope_column(m)
                    if column is None:
                        continue
                    conditions.append(f"e.{column} = ANY(%s)")
                    extra.append(sorted(scope))
            if references is not None:
                ref = _reference_condition(m, references)
                if ref is None:
                    continue
                conditions.append(ref[0])
                extra += ref[1]
            self.branches.append((m, conditions, extra))

    # -- SQL ------------------------------------------------------------------------------

    def _union(self, columns: str, *, cursor: Cursor | None, newer: bool, limit: int):
        order = "ASC" if newer else "DESC"
        parts, params = [], []
        for m, conditions, extra in self.branches:
            label = m._meta.label
            conds, args = list(conditions), list(extra)
            if cursor is not None:
                older, newer_op = "<", ">"
                op = newer_op if newer else older
                if label == cursor.model:
                    conds.append(f"(e.pgh_created_at, e.pgh_id) {op} (%s, %s)")
                    args += [cursor.created_at, cursor.pk]
                elif (label < cursor.model) != newer:
                    conds.append(f"e.pgh_created_at {op}= %s")
                    args.append(cursor.created_at)
                else:
                    conds.append(f"e.pgh_created_at {op} %s")
                    args.append(cursor.created_at)
            where = (" WHERE " + " AND ".join(conds)) if conds else ""
            parts.append(
                f"(SELECT %s::text AS pgh_model, {columns} "
                f'FROM "{m._meta.db_table}" e{where} '
                f"ORDER BY e.pgh_created_at {order}, e.pgh_id {order} LIMIT %s)"
            )
            params += [label, *args, limit]
        return " UNION ALL ".join(parts), params

    def count(self, cap: int = 1000) -> int:
        """How many events match, counting at most ``cap + 1`` (more is "cap+")."""
        if not self.branches:
            return 0
        sql, params = self._union("1 AS one", cursor=None, newer=False, limit=cap + 1)
        # The per-branch ORDER BY is dropped by the planner for a count; LIMIT caps each.
        with connection.cursor() as c:
            c.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM ({sql}) u LIMIT %s) t", [*params, cap + 1]
            )
            return c.fetchone()[0]

    def page(
        self, *, limit: int = PAGE_SIZE, after: Cursor | None = None, before: Cursor | None = None
    ) -> Page:
        """``limit`` events older than ``after`` (or newer than ``before``), newest first."""
        newer = before is not None
        cursor = before if newer else after
        if not self.branches:
            return Page([], None, None)
        sql, params = self._union(
            "e.pgh_id, e.pgh_created_at, e.pgh_label, e.pgh_obj_id::text AS obj_id, "
            "e.pgh_context_id",
            cursor=cursor,
            newer=newer,
            limit=limit + 1,
        )
        order = "ASC" if newer else "DESC"
        with connection.cursor() as c:
            c.execute(
                "SELECT t.pgh_model, t.pgh_id, t.pgh_created_at, t.pgh_label, t.obj_id, "
                f"ctx.metadata FROM (SELECT * FROM ({sql}) u "
                f'ORDER BY pgh_created_at {order}, pgh_model COLLATE "C" {order}, pgh_id {order} '
                "LIMIT %s) t "
                "LEFT JOIN pghistory_context ctx ON ctx.id = t.pgh_context_id "
                f'ORDER BY t.pgh_created_at {order}, t.pgh_model COLLATE "C" {order}, t.pgh_id {order}',
                [*params, limit + 1],
            )
            rows = c.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        if newer:
            rows.reverse()
        tracked = {m._meta.label: m.pgh_tracked_model._meta.label for m, _c, _e in self.branches}
        events = [
            AuditEvent(
                pgh_model=r[0],
                pgh_obj_model=tracked[r[0]],
                pgh_id=r[1],
                pgh_created_at=r[2],
                pgh_label=r[3],
                pgh_obj_id=r[4],
                pgh_context=_json(r[5]),
            )
            for r in rows
        ]
        describe(events)
        if not events:
            return Page([], None, None)
        if newer:
            return Page(events, events[-1].cursor, events[0].cursor if more else None)
        return Page(
            events, events[-1].cursor if more else None, events[0].cursor if after else None
        )

    def __getitem__(self, item):
        """``log[:n]``: the newest ``n`` events."""
        if not isinstance(item, slice) or item.start not in (None, 0) or item.stop is None:
            raise TypeError("AuditLog supports log[:n] only; use page() to go further.")
        return self.page(limit=item.stop).events


def _scope_column(event_model) -> str | None:
    queryset = event_model.pgh_tracked_model._default_manager.all()
    scope_field = getattr(queryset, "scope_field", None)
    if scope_field == "id":
        return "pgh_obj_id"
    columns = {f.column for f in event_model._meta.concrete_fields}
    return scope_field if scope_field in columns else None


def _fk_columns(event_model, target) -> list[str]:
    return [
        f.column
        for f in event_model._meta.concrete_fields
        if f.is_relation
        and f.related_model is not None
        and f.name != "pgh_obj"
        and f.related_model._meta.concrete_model is target
    ]


def _reference_condition(event_model, obj) -> tuple[str, list] | None:
    """Events of ``obj`` itself, of records with a foreign key to it, and of records with
    a foreign key to one of those (read from the event tables, so deleted ones count)."""
    target = obj._meta.concrete_model
    tracked = event_model.pgh_tracked_model._meta.concrete_model
    conditions, params = [], []
    if tracked is target:
        conditions.append("e.pgh_obj_id = %s")
        params.append(obj.pk)
    direct = _fk_columns(event_model, target)
    for column in direct:
        conditions.append(f'e."{column}" = %s')
        params.append(obj.pk)
    if not direct and tracked is not target:
        # One hop further: a measurement belongs to its KPI, which belongs to the initiative.
        for f in event_model._meta.concrete_fields:
            if not f.is_relation or f.related_model is None or f.name == "pgh_obj":
                continue
            parent = f.related_model._meta.concrete_model
            parent_events = [m for m in event_models() if m.pgh_tracked_model is parent]
            if parent is target or not parent_events:
                continue
            parent_columns = _fk_columns(parent_events[0], target)
            if parent_columns:
                table = parent_events[0]._meta.db_table
                match = " OR ".join(f'p."{c}" = %s' for c in parent_columns)
                conditions.append(
                    f'e."{f.column}" IN (SELECT p.pgh_obj_id FROM "{table}" p WHERE {match})'
                )
                params += [obj.pk] * len(parent_columns)
    if not conditions:
        return None
    return "(" + " OR ".join(conditions) + ")", params


def _json(value):
    """Django's psycopg setup hands raw jsonb back as text; decode it here."""
    if value is None or isinstance(value, dict):
        return value
    return json.loads(value)


# --- Making a page readable ---------------------------------------------------------------


def _row_data(events: list[AuditEvent]) -> dict[tuple[str, int], tuple[dict, dict | None]]:
    """Each event's row and the previous event's row of the same record, in one query.
    ``ORDER BY pgh_id + 0``: ordered by the bare key, the planner walks the primary key
    backwards from each row looking for the record's previous event (for a first event,
    the whole table); this way it reads the record's few events by ``pgh_obj_id``."""
    by_model: dict[str, list[int]] = {}
    for e in events:
        by_model.setdefault(e.pgh_model, []).append(e.pgh_id)
    if not by_model:
        return {}
    tables = {m._meta.label: m._meta.db_table for m in event_models()}
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
        return {
            (label, pk): (_json(cur), _json(prev)) for label, pk, cur, prev in cursor.fetchall()
        }


_NAME_FIELDS = (("code", "name"), ("name",), ("title",), ("username",))
# Records without a name of their own are named after the record they belong to.
_OWNER_FIELDS = ("initiative", "ai_system", "kpi", "review", "model_version", "user", "program")


def _own_name(model, data: dict) -> str | None:
    columns = {f.name: f.column for f in model._meta.concrete_fields}
    for names in _NAME_FIELDS:
        if all(n in columns and data.get(columns[n]) not in (None, "") for n in names):
            return " ".join(str(data[columns[n]]) for n in names)
    if "version" in columns and data.get("version"):
        return f"version {data['version']}"
    return None


def _names(wanted: set[tuple[type[models.Model], int]]) -> dict[tuple[str, int], str]:
    """Display names of records by (model label, pk), in one query."""
    by_model: dict[type[models.Model], set[int]] = {}
    for model, pk in wanted:
        if pk is not None:
            by_model.setdefault(model._meta.concrete_model, set()).add(int(pk))
    if not by_model:
        return {}
    User = get_user_model()
    parts, params = [], []
    for model, ids in by_model.items():
        columns = {f.name: f.column for f in model._meta.concrete_fields}
        if model is User:
            # username, first and last name: the actor becomes a User without a query.
            name = "CONCAT_WS(chr(31), t.username, t.first_name, t.last_name)"
        else:
            name = None
            for names in _NAME_FIELDS:
                if all(n in columns for n in names):
                    name = "CONCAT_WS(' ', " + ", ".join(f't."{columns[n]}"' for n in names) + ")"
                    break
            if name is None and "version" in columns:
                name = f"CONCAT('version ', t.\"{columns['version']}\")"
            if name is None:
                name = "NULL"
        pk = model._meta.pk.column
        parts.append(
            f'SELECT %s, t."{pk}"::text, ({name})::text FROM "{model._meta.db_table}" t '
            f'WHERE t."{pk}" = ANY(%s)'
        )
        params += [model._meta.label, sorted(ids)]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {(label, int(pk)): name for label, pk, name in cursor.fetchall() if name}


def _display(f, value, names) -> str | None:
    if value is None or value == "":
        return None
    if f.is_relation and f.related_model is not None:
        related = f.related_model._meta.concrete_model
        return names.get((related._meta.label, int(value))) or (
            f"{related._meta.verbose_name} #{value}"
        )
    if f.choices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(f, models.BooleanField):
        return "Yes" if value else "No"
    if isinstance(f, models.DateTimeField) and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            from django.utils.formats import date_format

            return date_format(timezone.localtime(parsed), "j M Y H:i")
    if isinstance(f, models.DateField) and isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            from django.utils.formats import date_format

            return date_format(parsed, "j M Y")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def describe(events: list[AuditEvent]) -> None:
    """Fill in data, diff, actor, object name and readable changes for a page of events
    (two queries, whatever the page holds)."""
    if not events:
        return
    data = _row_data(events)
    User = get_user_model()
    tracked_models = {m._meta.label: m.pgh_tracked_model for m in event_models()}
    wanted: set[tuple[type[models.Model], int]] = set()
    for e in events:
        cur, prev = data.get((e.pgh_model, e.pgh_id), (None, None))
        model = tracked_models[e.pgh_model]
        fields = {f.column: f for f in model._meta.concrete_fields}
        e.pgh_data = {k: v for k, v in (cur or {}).items() if not k.startswith("pgh_")}
        if e.pgh_label == "insert" or prev is None:
            e.pgh_diff = None
            keys = [k for k, v in e.pgh_data.items() if v not in (None, "")]
            old = {}
        else:
            e.pgh_diff = {k: [prev.get(k), v] for k, v in e.pgh_data.items() if prev.get(k) != v}
            keys = list(e.pgh_diff)
            old = prev
        if e.pgh_label == "delete":
            keys = []
        e._raw_changes = [
            (fields[k], old.get(k), e.pgh_data.get(k))
            for k in keys
            if k in fields and fields[k].name not in HIDDEN_FIELDS
        ]
        for f, before, after in e._raw_changes:
            if f.is_relation and f.related_model is not None:
                for v in (before, after):
                    if v not in (None, ""):
                        wanted.add((f.related_model, v))
        ctx = e.pgh_context or {}
        e.user_id = ctx.get("user")
        e.url = ctx.get("url")
        e._own = _own_name(model, e.pgh_data)
        if e._own is None:
            owner = next((n for n in _OWNER_FIELDS if n in {f.name for f in fields.values()}), None)
            if owner:
                f = model._meta.get_field(owner)
                e._owner = (f, e.pgh_data.get(f.column))
                if e._owner[1] is not None:
                    wanted.add((f.related_model, e._owner[1]))
    wanted |= {(User, e.user_id) for e in events if isinstance(e.user_id, int)}
    names = _names(wanted)
    users = {}
    for (label, pk), value in list(names.items()):
        if label == User._meta.label:
            username, first, last = ([*value.split(chr(31)), "", ""])[:3]
            users[pk] = User(pk=pk, username=username, first_name=first, last_name=last)
            names[(label, pk)] = f"{first} {last}".strip() or username
    for e in events:
        model = tracked_models[e.pgh_model]
        e.model_name = str(model._meta.verbose_name).capitalize()
        e.actor = users.get(e.user_id)
        if e._own:
            e.object_name = e._own
        else:
            f, value = getattr(e, "_owner", (None, None))
            whose = _display(f, value, names) if f is not None else None
            e.object_name = f"#{e.pgh_obj_id}" + (f" of {whose}" if whose else "")
        e.changes = [
            (
                str(f.verbose_name).capitalize(),
                _display(f, before, names),
                _display(f, after, names),
            )
            for f, before, after in sorted(e._raw_changes, key=lambda c: c[0].creation_counter)
        ]


def object_history(obj, *, viewer=None) -> list[AuditEvent]:
    """Every audit event of one record, oldest first, readable. The caller has already
    checked the user may see ``obj``. A few queries, whatever the history's length."""
    event_model = next(
        (m for m in event_models() if m.pgh_tracked_model is obj._meta.concrete_model), None
    )
    if event_model is None:
        return []
    log = AuditLog(viewer=viewer, event_model=event_model._meta.label, object_id=str(obj.pk))
    events = log.page(limit=1000).events
    events.reverse()
    return events
