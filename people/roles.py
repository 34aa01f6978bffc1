"""Global roles as Django groups with model-level permissions.

Defined as data so the groups are rebuilt after every migrate; the app labels
are strings, so ``people`` still imports nothing from the apps above it.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

PMO = "PMO"
FINANCE = "Finance"
COE = "CoE"
AUDITOR = "Auditor"
GLOBAL_ROLES = (PMO, FINANCE, COE, AUDITOR)

ALL_APPS = ("people", "portfolio", "finance", "governance")

# role -> list of (app_label, actions, extra codenames)
ROLE_PERMISSIONS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    PMO: [
        ("people", ("view", "add", "change", "delete")),
        ("portfolio", ("view", "add", "change", "delete")),
        ("governance", ("view", "add", "change", "delete")),
        ("finance", ("view",)),
    ],
    FINANCE: [
        ("people", ("view",)),
        ("portfolio", ("view",)),
        ("finance", ("view", "add", "change", "delete")),
    ],
    COE: [
        ("people", ("view",)),
        ("portfolio", ("view",)),
        ("governance", ("view", "add", "change")),
    ],
    AUDITOR: [(app, ("view",)) for app in ALL_APPS] + [("pghistory", ("view",))],
}

EXTRA_PERMISSIONS: dict[str, list[str]] = {
    PMO: ["portfolio.decide_gate", "governance.lower_risk_tier"],
    FINANCE: ["finance.approve_budget"],
    COE: [
        "portfolio.decide_gate",
        "governance.approve_modelversion",
        "governance.lower_risk_tier",
    ],
    AUDITOR: [],
}

# Unit-object permissions that unit roles never get from a group.
_UNIT_CODENAMES = {"view_unit_portfolio", "change_unit_portfolio", "manage_unit"}


def ensure_global_roles(**kwargs) -> None:
    """Create or refresh the global role groups. Idempotent; runs after migrate."""
    if not Permission.objects.filter(content_type__app_label="governance").exists():
        return  # not every app is migrated yet
    for role in GLOBAL_ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for app_label, actions in ROLE_PERMISSIONS[role]:
            qs = Permission.objects.filter(content_type__app_label=app_label).exclude(
                codename__in=_UNIT_CODENAMES
            )
            perms += [p for p in qs if p.codename.split("_", 1)[0] in actions]
        for dotted in EXTRA_PERMISSIONS[role]:
            app_label, codename = dotted.split(".")
            perms += list(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(perms)
