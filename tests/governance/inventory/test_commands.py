from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from portfolio.models import Initiative
from tests.governance.inventory.helpers import FILES

pytestmark = pytest.mark.django_db
SMALL = str(FILES / "omb_small.csv")


def cmd(*args, **kw) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kw)
    return out.getvalue()


def test_dry_run_prints_the_report_and_writes_nothing():
    out = cmd("import_inventory", SMALL, "--dry-run")
    assert "rows read: 10, created: 6, updated: 0, unchanged: 0, rejected: 4" in out
    assert "row 10: use_case_name is blank" in out
    assert Initiative.objects.count() == 0


def test_rejected_rows_fail_the_command_unless_valid_rows_are_kept():
    with pytest.raises(CommandError, match="4 rows were rejected"):
        cmd("import_inventory", SMALL)
    assert Initiative.objects.count() == 0
    cmd("import_inventory", SMALL, "--keep-valid-rows")
    assert Initiative.objects.count() == 6


def test_import_is_attributed_to_the_named_user(pmo):
    cmd("import_inventory", SMALL, "--keep-valid-rows", "--user", "pmo")
    event = Initiative.objects.get(name="Case triage").events.first()
    assert event.pgh_context.metadata["user"] == pmo.pk


def test_an_unknown_user_is_refused():
    with pytest.raises(CommandError, match="No user named"):
        cmd("import_inventory", SMALL, "--user", "nobody")


def test_a_mapping_file_is_used_for_another_layout():
    cmd(
        "import_inventory",
        str(FILES / "custom.csv"),
        "--mapping",
        str(FILES / "custom_mapping.toml"),
        "--keep-valid-rows",
    )
    assert Initiative.objects.filter(source="acme-ai-register").count() == 4


def test_seed_federal_loads_once_with_a_demo_lead_who_sees_only_their_agency(settings):
    settings.DEBUG = True
    out = cmd("seed_federal", "--path", SMALL)
    assert "created: 6" in out
    from django.contrib.auth import get_user_model

    lead = get_user_model().objects.get(username="lead-doj")
    names = set(Initiative.objects.visible_to(lead).values_list("name", flat=True))
    assert names == {"Case triage", "Document summariser"}
    assert "already loaded" in cmd("seed_federal", "--path", SMALL, "--if-empty")
    assert Initiative.objects.count() == 6


def test_export_command_writes_the_omb_layout(tmp_path):
    cmd("import_inventory", SMALL, "--keep-valid-rows")
    out = tmp_path / "inv.csv"
    assert "Wrote 6 initiatives" in cmd("export_inventory", str(out))
    assert out.read_bytes().decode("utf-8-sig").startswith("agency,agency_name,id,")


def test_the_federal_demo_dates_stages_from_the_file_and_takes_tiers_from_its_answers(settings):
    import datetime as dt

    from django.utils import timezone

    from governance.models import RiskAssessment

    settings.DEBUG = True
    cmd("seed_federal", "--path", SMALL, "--no-leads")
    triage = Initiative.objects.get(name="Case triage")  # Deployed, operational 2024-10-01
    assert timezone.localdate(triage.stage_entered_at) == dt.date(2024, 10, 1)
    summariser = Initiative.objects.get(name="Document summariser")  # Pilot, 01/2024
    assert timezone.localdate(summariser.stage_entered_at) == dt.date(2024, 1, 1)
    # the tier comes from the file's answer, through a current risk assessment
    assert triage.risk_tier == "high"
    assert RiskAssessment.objects.get(initiative=triage, status="current").eu_tier == "high"
    assert summariser.risk_tier == "minimal"
    wildfire = Initiative.objects.get(name="Wildfire detection")  # presumed, determined not
    assert wildfire.risk_tier == "limited"
    grant = Initiative.objects.get(name="Grant reviewer assistant")  # nothing reported
    assert grant.risk_tier == "unassessed"
