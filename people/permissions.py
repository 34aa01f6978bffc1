"""What a user may do: one named check per action, in one place.

The view that performs an action asks ``require(user, action, obj)``; the template that
offers it (a nav item, a button, a link) asks ``{% can action obj as ok %}`` (the
``permissions`` template library). Both call the same registered function, so a page
never offers what its view refuses with a 403.

Each app registers its own checks in its ``permissions`` module, imported from the app's
``AppConfig.ready()``; ``people`` knows only the registry, never the apps above it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied

Check = Callable[..., bool]

_CHECKS: dict[str, Check] = {}


def register(action: str) -> Callable[[Check], Check]:
    """``@register("finance.import_spend")`` on a ``(user, obj=None) -> bool`` function."""

    def decorator(check: Check) -> Check:
        if action in _CHECKS and _CHECKS[action] is not check:
            raise ValueError(f"Permission check {action!r} is registered twice.")
        _CHECKS[action] = check
        return check

    return decorator


def actions() -> list[str]:
    return sorted(_CHECKS)


def can(user, action: str, obj=None) -> bool:
    """May ``user`` do ``action`` (on ``obj``)? Unknown actions are an error, not a no."""
    try:
        check = _CHECKS[action]
    except KeyError as exc:
        raise KeyError(f"No permission check named {action!r}.") from exc
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(check(user, obj) if obj is not None else check(user))


def require(user, action: str, obj=None, message: str = "") -> None:
    """Raise ``PermissionDenied`` (403) unless ``can(user, action, obj)``."""
    if not can(user, action, obj):
        raise PermissionDenied(message or "You may not do this.")
