"""``{% load permissions %}{% can "finance.import_spend" as may_import %}`` and, on an
object, ``{% can "governance.edit_model_version" object as may_edit %}``: the same check
the view asks (``people.permissions``)."""

from __future__ import annotations

from django import template

from people.permissions import can as _can

register = template.Library()

_NO_OBJECT = object()


@register.simple_tag(takes_context=True)
def can(context, action: str, obj=_NO_OBJECT) -> bool:
    """An object argument that resolves to nothing (``unit.parent`` of a top unit) is a
    no: there is nothing to act on."""
    user = context.get("user") or getattr(context.get("request"), "user", None)
    if obj is _NO_OBJECT:
        return _can(user, action)
    if obj is None or obj == "":
        return False
    return _can(user, action, obj)
