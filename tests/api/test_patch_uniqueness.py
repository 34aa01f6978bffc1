"""PATCH and PUT of a row checked by a unique constraint: the row being edited does not
clash with itself (it used to answer 400 "... already exists")."""

from __future__ import annotations

import datetime as dt

import pytest

from tests import factories as f

pytestmark = pytest.mark.django_db


def _cases(initiative, lead):
    system = f.AISystemFactory(initiative=initiative, name="Scorer")
    version = f.ModelVersionFactory(ai_system=system, version="1.0.0")
    control = f.ControlFactory()
    attestation = f.ControlAttestationFactory(
        initiative=initiative, control=control, status="in_progress", evidence=""
    )
    assignment = f.AssignmentFactory(initiative=initiative, role="operator", user=lead)
    snapshot = f.AdoptionSnapshotFactory(initiative=initiative, as_of=dt.date(2026, 1, 1))
    return [
        (
            "ai-systems",
            system,
            {"description": "Scores claims."},
            {"initiative": initiative.pk, "name": "Scorer", "description": "x"},
        ),
        (
            "model-versions",
            version,
            {"training_run_ref": "run-7"},
            {"ai_system": system.pk, "version": "1.0.0", "training_run_ref": "run-8"},
        ),
        (
            "attestations",
            attestation,
            {"evidence": "Draft runbook."},
            {
                "initiative": initiative.pk,
                "control": control.pk,
                "status": "in_progress",
                "evidence": "Runbook v2.",
            },
        ),
        (
            "assignments",
            assignment,
            {"user": lead.pk},
            {"initiative": initiative.pk, "role": "operator", "user": lead.pk},
        ),
        (
            "adoption-snapshots",
            snapshot,
            {"active_users": 3},
            {
                "initiative": initiative.pk,
                "as_of": "2026-01-01",
                "eligible_users": 10,
                "active_users": 4,
            },
        ),
    ]


def test_patch_and_put_keep_their_own_unique_values(initiative_a, lead_a, api):
    client = api(lead_a)
    for route, obj, patch, put in _cases(initiative_a, lead_a):
        url = f"/api/v1/{route}/{obj.pk}/"
        response = client.patch(url, patch, format="json")
        assert response.status_code == 200, (route, response.content)
        response = client.put(url, put, format="json")
        assert response.status_code == 200, (route, response.content)


def test_a_real_clash_is_still_a_field_error(initiative_a, lead_a, api):
    f.AISystemFactory(initiative=initiative_a, name="Taken")
    other = f.AISystemFactory(initiative=initiative_a, name="Free")
    response = api(lead_a).patch(
        f"/api/v1/ai-systems/{other.pk}/", {"name": "Taken"}, format="json"
    )
    assert response.status_code == 400
