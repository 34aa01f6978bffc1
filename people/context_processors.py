"""Template context for every page: the signed-in person's unread notification count,
shown as a badge in the header. Lazy, so pages that never render it pay nothing."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from people.notifications import unread_count


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user))}
