"""FOCUS writes: the import, allocation rules, the ServiceCategory table and the cost
basis. Only finance (a global change right on FOCUS lines) may make them; every path
(web, API, command, task) calls these functions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from finance.focus import allocation, importer, reader
from finance.focus.models import (
    AllocationRule,
    CostBasis,
    FocusImport,
    FocusSettings,
    ServiceCategoryMapping,
)
from finance.focus.spec import FocusFormatError
from finance.models import CostCategory
from people.audit import acting_as
from people.scoping import has_global
from portfolio.models import Initiative


def can_manage_focus(user) -> bool:
    return has_global(user, "finance.change_focusline")


def can_view_focus(user) -> bool:
    """Everything FOCUS, unallocated lines included: finance, PMO, auditors."""
    return has_global(user, "finance.view_focusline")


def _require(user) -> None:
    if not can_manage_focus(user):
        raise PermissionDenied("Only finance may import FOCUS bills or change allocation.")


@dataclass
class FocusImportResult:
    record: FocusImport
    outcome: importer.Outcome

    @property
    def ok(self) -> bool:
        return self.record.status == FocusImport.Status.SUCCEEDED

    def report(self) -> dict[str, Any]:
        return focus_report(self.record)


def focus_report(record: FocusImport) -> dict[str, Any]:
    return {
        "import": record.pk,
        "filename": record.filename,
        "focus_version": record.focus_version,
        "status": record.status,
        "rows": record.rows_total,
        "written": record.status == FocusImport.Status.SUCCEEDED,
        **record.report,
        "errors": record.errors,
    }


def _size(file) -> int:
    try:
        pos = file.tell()
        file.seek(0, 2)
        size = file.tell()
        file.seek(pos)
        return size
    except (AttributeError, OSError):
        return 0


def focus_import(
    *,
    acting_user,
    file: IO[bytes] | str | Path,
    filename: str = "",
    focus_version: str = "",
    progress: reader.Progress | None = None,
    phase: Callable[[str], None] | None = None,
) -> FocusImportResult:
    """Import one FOCUS cost-and-usage file (CSV, gzip CSV or Parquet).

    The caller can rely on:
    - a file that is not FOCUS, of an unknown version, missing a mandatory column, or
      with any bad row (a value of the wrong type or outside the specification's allowed
      values, a currency without an exchange rate) writes nothing; the record's errors
      name the column (and the row: CSV rows count the header as row 1);
    - the file's (billing account, billing period) pairs replace exactly what the app
      held for them, in one transaction; the report counts rows and money added,
      removed and changed (in the cost basis, per currency);
    - new lines are allocated by the rules at once and the ledger's FOCUS postings are
      brought up to date in the same transaction.
    """
    _require(acting_user)
    opened = None
    if isinstance(file, str | Path):
        filename = filename or Path(file).name
        opened = file = open(file, "rb")  # noqa: SIM115 - closed below
    basis = FocusSettings.current().cost_basis
    record = FocusImport.objects.create(filename=filename[:255], created_by=acting_user)
    try:
        size = _size(file)
        try:
            with transaction.atomic(), acting_as(acting_user), connection.cursor() as cursor:
                outcome = importer.run(
                    cursor,
                    loader=lambda c: reader.load(
                        c,
                        file,
                        filename=filename,
                        size=size,
                        declared_version=focus_version,
                        progress=progress,
                    ),
                    import_id=record.pk,
                    cost_basis=basis,
                    phase=phase,
                )
                if outcome.ok:
                    started = time.perf_counter()
                    allocated = allocation.allocate(
                        cursor, where="l.focus_import_id = %s", params=[record.pk]
                    )
                    postings = allocation.sync_postings(
                        cursor, cost_basis=basis, acting_user_id=acting_user.pk
                    )
                    outcome.report["allocated_lines"] = allocated
                    outcome.report["postings"] = postings
                    outcome.timings["allocate"] = time.perf_counter() - started
                else:
                    transaction.set_rollback(True)
        except FocusFormatError as exc:
            outcome = importer.Outcome(
                rejected=1, errors=[{"row": None, "column": "", "reason": str(exc)}]
            )
    except Exception as exc:
        FocusImport.objects.filter(pk=record.pk).update(
            status=FocusImport.Status.FAILED,
            finished_at=timezone.now(),
            errors=[{"row": None, "column": "", "reason": f"The import stopped: {exc}"}],
        )
        raise
    finally:
        if opened is not None:
            opened.close()
    record.focus_version = outcome.version
    record.rows_total = outcome.rows
    record.status = FocusImport.Status.SUCCEEDED if outcome.ok else FocusImport.Status.FAILED
    record.finished_at = timezone.now()
    record.errors = outcome.errors
    record.report = (
        outcome.report
        | ({"rejected": outcome.rejected} if not outcome.ok else {})
        | {"timings": {k: round(v, 3) for k, v in outcome.timings.items()}}
    )
    record.save()
    return FocusImportResult(record=record, outcome=outcome)


# --- Allocation rules ----------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "priority",
    "active",
    "tag_key",
    "tag_value",
    "sub_account_id",
    "service_name",
    "sku_id",
    "initiative",
)


def _clean_rule(data: dict[str, Any]) -> dict[str, Any]:
    data = {k: data.get(k) for k in RULE_FIELDS if k in data}
    for key in ("name", "tag_key", "tag_value", "sub_account_id", "service_name", "sku_id"):
        if key in data:
            data[key] = (data[key] or "").strip()
    if not data.get("name"):
        raise ValidationError({"name": "Name the rule."})
    if not any(data.get(k) for k in ("tag_key", "sub_account_id", "service_name", "sku_id")):
        raise ValidationError(
            "A rule needs at least one condition: a tag key, a sub-account, a service or a SKU."
        )
    if data.get("tag_value") and not data.get("tag_key"):
        raise ValidationError({"tag_value": "A tag value needs its tag key."})
    if data.get("initiative") is None and not (data.get("tag_key") and not data.get("tag_value")):
        raise ValidationError(
            {
                "initiative": "Choose the initiative, or give only a tag key whose values are "
                "initiative codes."
            }
        )
    initiative = data.get("initiative")
    if initiative is not None and not isinstance(initiative, Initiative):
        raise ValidationError({"initiative": "Unknown initiative."})
    return data


@transaction.atomic
def allocation_rule_create(*, acting_user, **fields: Any) -> AllocationRule:
    """A new rule (version 1). Existing lines are re-allocated by ``allocation_run``
    (the caller enqueues it: ``focus_reallocate_task``)."""
    _require(acting_user)
    data = _clean_rule(fields)
    with acting_as(acting_user):
        return AllocationRule.objects.create(**data, created_by=acting_user, changed_by=acting_user)


@transaction.atomic
def allocation_rule_update(*, acting_user, rule: AllocationRule, **fields: Any) -> AllocationRule:
    """Change a rule: its version grows by one (the trail keeps every version)."""
    _require(acting_user)
    rule = AllocationRule.objects.select_for_update().get(pk=rule.pk)
    current = {k: getattr(rule, k) for k in RULE_FIELDS}
    data = _clean_rule(current | fields)
    with acting_as(acting_user):
        for key, value in data.items():
            setattr(rule, key, value)
        rule.version += 1
        rule.changed_by = acting_user
        rule.save()
    return rule


@transaction.atomic
def allocation_rule_delete(*, acting_user, rule: AllocationRule) -> None:
    """Delete a rule; its lines fall to the next rule or to unallocated on re-allocation."""
    _require(acting_user)
    with acting_as(acting_user):
        AllocationRule.objects.filter(pk=rule.pk).delete()


def allocation_run(*, acting_user, progress: Callable[[str], None] | None = None) -> dict:
    """Re-allocate every line by the current rules and bring the ledger's FOCUS postings
    up to date, in one transaction. Idempotent: a second run changes nothing."""
    _require(acting_user)
    basis = FocusSettings.current().cost_basis
    with transaction.atomic(), acting_as(acting_user), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '128MB'")
        cursor.execute("SET LOCAL jit = off")
        if progress:
            progress("Matching the lines against the rules")
        changed = allocation.allocate(cursor)
        if progress:
            progress("Writing the ledger")
        postings = allocation.sync_postings(cursor, cost_basis=basis, acting_user_id=acting_user.pk)
    return {"lines_changed": changed, "postings": postings}


# --- Settings --------------------------------------------------------------------------


@transaction.atomic
def focus_settings_update(*, acting_user, cost_basis: str) -> FocusSettings:
    """Change the cost basis; the caller re-runs allocation so the ledger follows."""
    _require(acting_user)
    if cost_basis not in CostBasis.values:
        raise ValidationError({"cost_basis": f"Choose one of {', '.join(CostBasis.values)}."})
    with acting_as(acting_user):
        row = FocusSettings.current()
        row.cost_basis = cost_basis
        row.changed_by = acting_user
        row.save()
    return row


@transaction.atomic
def service_category_set(
    *, acting_user, service_category: str, cost_category: str
) -> ServiceCategoryMapping:
    _require(acting_user)
    if cost_category not in CostCategory.values:
        raise ValidationError({"cost_category": f"Unknown cost category {cost_category!r}."})
    service_category = (service_category or "").strip()
    if not service_category or len(service_category) > 60:
        raise ValidationError(
            {"service_category": "Give the FOCUS ServiceCategory (1-60 characters)."}
        )
    with acting_as(acting_user):
        row, _ = ServiceCategoryMapping.objects.update_or_create(
            service_category=service_category, defaults={"cost_category": cost_category}
        )
    return row
