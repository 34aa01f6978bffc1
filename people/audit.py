"""The audit trail: one decorator that every governed model wears.

pghistory installs database triggers, so inserts, updates and deletes are
recorded whatever code path makes them (``bulk_create``, ``update()``, raw
SQL). ``PGHISTORY_APPEND_ONLY`` adds triggers that refuse UPDATE and DELETE on
the event tables themselves.
"""

import pghistory


def audited(model=None, *, exclude: tuple[str, ...] = ()):
    """Track every insert, update and delete of ``model`` (fresh trackers per model:
    pghistory binds a tracker to the model it first decorates). ``exclude`` leaves out
    fields the database derives itself (an update of only those writes no event)."""

    def decorate(cls):
        return pghistory.track(
            pghistory.InsertEvent(),
            pghistory.UpdateEvent(),
            pghistory.DeleteEvent(),
            **({"exclude": list(exclude)} if exclude else {}),
        )(cls)

    return decorate(model) if model is not None else decorate


def acting_as(user):
    """Attribute the audit events written inside the block to ``user``.

    Requests get this from pghistory's middleware; services wrap their writes in it
    too, so work done by a task or a command records the person who asked for it.
    """
    return pghistory.context(user=user.pk if user is not None else None)
