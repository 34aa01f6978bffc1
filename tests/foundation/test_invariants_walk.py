"""Issue 13, "done when": walk every state-changing API route and web form as each role of
the fixed cast, with bodies that try to walk around the rules, and check after every
request that the invariants hold:

- no initiative moves forward without a decided gate review into that stage whose
  mandatory criteria were met or waived;
- no initiative's risk tier changes without a risk assessment giving that tier;
- no attestation is recorded in someone else's name;
- auditors and viewers (and people with no role) write nothing at all.

The routes are read from the API router and the URL resolver, so a new route is walked
without anyone remembering to add it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import ControlAttestation, GateCriterionResult, GateReview, Waiver
from portfolio.api.urls import router
from portfolio.choices import STAGE_ORDER
from portfolio.models import Initiative
from tests import factories as f
from tests.api.cases import BY_NAME
from tests.api.test_scoping import ctx  # noqa: F401  (the API cases' fixture)
from tests.foundation.test_cross_unit_urls import CROSS_UNIT

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CAST = ["pmo", "finance", "coe", "auditor", "lead_a", "member_a", "viewer_a", "lead_b", "outsider"]
WRITE_NOTHING = {"auditor", "viewer_a", "outsider"}
# Pages that change only the user's own things (session, inbox, tokens, preferences).
OWN_THINGS = ("login", "logout", "inbox", "token", "preference", "password")


def _event_count() -> int:
    """Rows in every audit event table: any write to a governed record adds one."""
    total = 0
    for model in apps.get_models():
        if model.__name__.endswith("Event") and hasattr(model, "pgh_id"):
            total += model.objects.count()
    return total


def _violations(c) -> dict:
    """Fields a careless or hurried client might send to walk around a rule."""
    return {
        "stage": "institutional",
        "to_stage": "institutional",
        "decision": "pivot",
        "risk_tier": "minimal",
        "attested_by": c.pmo.pk,
        "attested_on": "2020-01-01",
        "approved_by": c.pmo.pk,
        "decided_by": c.pmo.pk,
        "created_by": c.pmo.pk,
        "auditor": c.pmo.pk,
        "granted_by": c.pmo.pk,
        "requested_by": c.pmo.pk,
        "reported_by": c.pmo.pk,
        "status": "production",
    }


class Invariants:
    def __init__(self):
        self.stages = dict(Initiative.objects.values_list("pk", "stage"))
        self.tiers = dict(Initiative.objects.values_list("pk", "risk_tier"))
        self.since = timezone.now()

    def check(self, user, role: str, where: str) -> None:
        for pk, stage, tier in Initiative.objects.values_list("pk", "stage", "risk_tier"):
            old = self.stages.get(pk)
            if (
                old in STAGE_ORDER
                and stage in STAGE_ORDER
                and STAGE_ORDER[stage] > STAGE_ORDER[old]
            ):
                review = GateReview.objects.filter(
                    initiative_id=pk, status="decided", decision="advance", target_stage=stage
                ).first()
                assert review is not None, f"{role} {where}: {pk} moved forward without a gate"
                waived = set(
                    Waiver.objects.filter(review=review).values_list("standard_id", flat=True)
                )
                blocking = set(
                    GateCriterionResult.objects.filter(
                        review=review, mandatory=True, met=False
                    ).values_list("standard_id", flat=True)
                )
                assert blocking <= waived, f"{role} {where}: advanced with unmet criteria"
            old_tier = self.tiers.get(pk)
            if old_tier is not None and tier != old_tier:
                from governance.models import RiskAssessment

                assert RiskAssessment.objects.filter(
                    initiative_id=pk, eu_tier=tier, created_at__gte=self.since
                ).exists(), f"{role} {where}: tier {old_tier} -> {tier} without an assessment"
        for att in ControlAttestation.objects.filter(updated_at__gte=self.since).exclude(
            attested_by__isnull=True
        ):
            assert att.attested_by_id == user.pk, f"{role} {where}: attestation in another's name"
        self.__init__()


def _api_targets(c):
    """(method, url, body) for every state-changing API route."""
    out = []
    for _prefix, viewset, basename in router.registry:
        case = BY_NAME.get(basename)
        if case is None or case.make is None:
            continue
        methods = set(getattr(viewset, "http_method_names", ()))
        body = {**(case.create(c) if case.create else {}), **_violations(c)}
        if "post" in methods:
            out.append(("post", reverse(f"v1:{basename}-{case.create_action}"), body))
        obj = case.make(c.unit_a)
        detail = reverse(f"v1:{basename}-detail", args=[obj.pk])
        for method in ("patch", "put", "delete"):
            if method in methods:
                out.append((method, detail, body))
        for extra in viewset.get_extra_actions():
            if extra.detail and "post" in extra.mapping:
                out.append(
                    ("post", reverse(f"v1:{basename}-{extra.url_name}", args=[obj.pk]), body)
                )
    return out


def _web_targets(c):
    """(url, body) for every web page that accepts a POST, with unit A's records."""
    out = []

    def walk(patterns, ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith(("admin", "api")):
                    continue
                yield from walk(p.url_patterns, ns + (f"{p.namespace}:" if p.namespace else ""))
            elif p.name:
                yield ns + p.name, p

    body = {
        **_violations(c),
        "initiative": c.initiative_a.pk,
        "control": c.control.pk,
        "evidence": "x",
        "rationale": "x",
        "reason": "x",
        "title": "x",
        "severity": "critical",
        "eu_tier": "minimal",
        "code": c.initiative_a.code,
        "name": "Renamed",
        "business_unit": c.unit_a.pk,
        "note": "x",
        "expires_on": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
    }
    for name, pattern in walk(get_resolver().url_patterns):
        if any(word in name for word in OWN_THINGS):
            continue
        kwargs = {}
        if pattern.pattern.converters:
            maker = CROSS_UNIT.get(name)
            if maker is None:
                continue  # per-user or organisation-wide, tested where built
            kwargs = maker(c.unit_a)
        try:
            url = reverse(name, kwargs=kwargs)
        except Exception:  # a route needing arguments we cannot build generically
            continue
        out.append((url, body))
    return out


@pytest.mark.parametrize("role", CAST)
def test_every_state_changing_route_keeps_the_invariants(role, request, ctx):  # noqa: F811
    c = ctx
    user = request.getfixturevalue(role)
    # An initiative with a gate review whose criteria are not met: the tempting target.
    Initiative.objects.filter(pk=c.initiative_a.pk).update(risk_tier="high")
    review = c.open_review_a
    f.GateCriterionResultFactory(review=review, mandatory=True, met=False)
    api = APIClient()
    api.force_authenticate(user)
    api_targets, web_targets = _api_targets(c), _web_targets(c)  # the records, made first
    web = Client()
    web.force_login(user)
    events = _event_count()
    inv = Invariants()
    for method, url, body in api_targets:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code < 500, f"{role} {method} {url}: {response.status_code}"
        inv.check(user, role, f"{method.upper()} {url}")
    for url, body in web_targets:
        response = web.post(url, body)
        assert response.status_code < 500, f"{role} POST {url}: {response.status_code}"
        inv.check(user, role, f"POST {url}")
    if role in WRITE_NOTHING:
        # Auditors, viewers and people with no role changed no governed record at all.
        assert _event_count() == events, f"{role} wrote something"
