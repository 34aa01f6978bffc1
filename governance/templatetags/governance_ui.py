"""Small template helpers for governance pages: ``{% load governance_ui %}``."""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ mapping|get_item:key }}``: a dict lookup with a variable key."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def show(value):
    """A field value for a detail page: dicts and lists as compact JSON, None as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return date_format(timezone.localtime(value), "j M Y H:i")
    if isinstance(value, dt.date):
        return date_format(value, "j M Y")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if hasattr(value, "get_full_name"):
        return value.get_full_name() or value.get_username()
    return value
