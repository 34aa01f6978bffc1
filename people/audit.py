"""The audit trail: one decorator that every governed model wears.

pghistory installs database triggers, so inserts, updates and deletes are
recorded whatever code path makes them (``bulk_create``, ``update()``, raw
SQL). ``PGHISTORY_APPEND_ONLY`` adds triggers that refuse UPDATE and DELETE on
the event tables themselves.
"""

import contextlib
import uuid

import pghistory
from django.db import models
from pghistory import runtime as pgh_runtime


def audited(model=None, *, exclude: tuple[str, ...] = ()):
    """Track every insert, update and delete of ``model`` (fresh trackers per model:
    pghistory binds a tracker to the model it first decorates). ``exclude`` leaves out
    fields the database derives itself (an update of only those writes no event).

    Each event table is indexed on (time, id), the trail's order: the audit log and the
    API read a page of the newest events from each table's index instead of sorting it."""

    def decorate(cls):
        opts = cls._meta
        index_name = f"pgh_{opts.app_label[:3]}_{opts.model_name[:16]}_at"
        return pghistory.track(
            pghistory.InsertEvent(),
            pghistory.UpdateEvent(),
            pghistory.DeleteEvent(),
            meta={"indexes": [models.Index(fields=["pgh_created_at", "pgh_id"], name=index_name)]},
            **({"exclude": list(exclude)} if exclude else {}),
        )(cls)

    return decorate(model) if model is not None else decorate


@contextlib.contextmanager
def acting_as(user):
    """Attribute the audit events written inside the block to ``user``.

    Requests get this from pghistory's middleware; services wrap their writes in it
    too, so work done by a task or a command records the person who asked for it.

    pghistory merges a nested context's metadata into the enclosing one (same context
    row), so a nested ``acting_as`` of another person used to re-attribute every event
    of the enclosing block, before and after it: a demo loaded "as PMO" named whoever
    acted last as the author of everything. A different actor now gets a context of its
    own for the block, and the enclosing one is untouched.
    """
    uid = user.pk if user is not None else None
    current = getattr(pgh_runtime._tracker, "value", None)
    if current is None:
        with pghistory.context(user=uid):
            yield
        return
    if "user" in current.metadata and current.metadata["user"] == uid:
        yield
        return
    # The execute hook of the enclosing context reads the tracker on every statement.
    pgh_runtime._tracker.value = pgh_runtime.Context(
        id=uuid.uuid4(), metadata={**current.metadata, "user": uid}
    )
    try:
        yield
    finally:
        pgh_runtime._tracker.value = current
