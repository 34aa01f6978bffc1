"""Budget workflow: request, approve or reject, amend. Separation of duties is enforced
here and, for approvals, by a check constraint in the database too."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from finance import imports
from finance.models import Budget, ImportBatch, SpendEntry, kind_category_error
from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.scoping import has_global, unit_ids_for
from portfolio.choices import END_STAGES
from portfolio.models import Initiative
from portfolio.validity import date_problem

#: A posting may be dated up to a year ahead (accruals), never later.
SPEND_MAX_FUTURE_DAYS = 366


def _check_currency(currency: str) -> None:
    if currency not in settings.CURRENCIES:
        raise ValidationError(
            {
                "currency": f"{currency!r} is not a configured currency ({', '.join(settings.CURRENCIES)})."
            }
        )


@transaction.atomic
def budget_request(
    *,
    acting_user,
    initiative: Initiative,
    fiscal_year: int,
    kind: str,
    category: str,
    amount: Decimal,
    currency: str,
    justification: str = "",
) -> Budget:
    """Ask for money for one initiative, year, kind and category. The request waits for
    someone other than ``acting_user`` to approve it."""
    if not Initiative.objects.editable_by(acting_user).filter(pk=initiative.pk).exists() and not (
        has_global(acting_user, "finance.add_budget")
    ):
        raise PermissionDenied("You may not request budgets for this initiative.")
    _check_currency(currency)
    if amount is None or Decimal(amount) <= 0:
        raise ValidationError({"amount": "The amount must be greater than zero."})
    initiative = Initiative.objects.select_for_update().get(pk=initiative.pk)
    if initiative.stage in END_STAGES:
        raise ValidationError(
            {
                "initiative": f"{initiative.code} is {initiative.get_stage_display().lower()}; "
                "an ended initiative gets no new budget."
            }
        )
    problem = kind_category_error(kind, category)
    if problem:
        raise ValidationError({"category": problem})
    if Budget.objects.filter(
        initiative=initiative,
        fiscal_year=fiscal_year,
        kind=kind,
        category=category,
        status__in=[Budget.Status.DRAFT, Budget.Status.REQUESTED],
    ).exists():
        raise ValidationError("A request for this line is already waiting for a decision.")
    with acting_as(acting_user):
        budget = Budget.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            fiscal_year=fiscal_year,
            kind=kind,
            category=category,
            amount=amount,
            currency=currency,
            justification=justification,
            status=Budget.Status.REQUESTED,
            requested_by=acting_user,
            requested_at=timezone.now(),
        )
    return budget


def _lock_for_decision(acting_user, budget: Budget) -> Budget:
    if not has_global(acting_user, "finance.approve_budget"):
        raise PermissionDenied("Only finance staff can approve or reject budgets.")
    budget = Budget.objects.select_for_update().get(pk=budget.pk)
    if budget.status != Budget.Status.REQUESTED:
        raise ValidationError(
            f"This budget is {budget.get_status_display().lower()}, not awaiting a decision."
        )
    if budget.requested_by_id == acting_user.pk:
        raise SeparationOfDutiesError("You requested this budget, so someone else must decide it.")
    return budget


@transaction.atomic
def budget_approve(*, acting_user, budget: Budget, note: str = "") -> Budget:
    """Approve a waiting request. An approved amendment supersedes the line it amends."""
    budget = _lock_for_decision(acting_user, budget)
    if budget.initiative.stage in END_STAGES:
        raise ValidationError(
            f"{budget.initiative.code} has ended ({budget.initiative.get_stage_display().lower()}); "
            "reject the request instead."
        )
    with acting_as(acting_user):
        if budget.amends_id:
            Budget.objects.filter(pk=budget.amends_id, status=Budget.Status.APPROVED).update(
                status=Budget.Status.SUPERSEDED, updated_at=timezone.now()
            )
        budget.status = Budget.Status.APPROVED
        budget.approved_by = acting_user
        budget.decided_at = timezone.now()
        budget.decision_note = note
        budget.save(
            update_fields=["status", "approved_by", "decided_at", "decision_note", "updated_at"]
        )
    return budget


@transaction.atomic
def budget_reject(*, acting_user, budget: Budget, note: str) -> Budget:
    """Reject a waiting request; the reason is required and kept."""
    if not (note or "").strip():
        raise ValidationError({"note": "Say why the budget is rejected."})
    budget = _lock_for_decision(acting_user, budget)
    with acting_as(acting_user):
        budget.status = Budget.Status.REJECTED
        budget.decided_at = timezone.now()
        budget.decision_note = note
        budget.save(update_fields=["status", "decided_at", "decision_note", "updated_at"])
    return budget


@transaction.atomic
def budget_amend(*, acting_user, budget: Budget, amount: Decimal, justification: str) -> Budget:
    """Ask to change an approved line's amount. The approved line stays in force (and in
    history) until the amendment is approved."""
    if budget.status != Budget.Status.APPROVED:
        raise ValidationError("Only an approved budget can be amended.")
    if not (justification or "").strip():
        raise ValidationError({"justification": "Say why the budget changes."})
    amendment = budget_request(
        acting_user=acting_user,
        initiative=budget.initiative,
        fiscal_year=budget.fiscal_year,
        kind=budget.kind,
        category=budget.category,
        amount=amount,
        currency=budget.currency,
        justification=justification,
    )
    amendment.amends = budget
    amendment.save(update_fields=["amends", "updated_at"])
    return amendment


# --- Spend -------------------------------------------------------------------------------


@dataclass
class SpendImportResult:
    """What an import did (or, for a dry run or a rejected file, would do)."""

    batch: ImportBatch
    outcome: imports.Outcome
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def report(self) -> dict[str, Any]:
        """JSON-friendly summary (the job page and the command print this)."""
        return _batch_report(self.batch)


def _batch_report(batch: ImportBatch) -> dict[str, Any]:
    return {
        "batch": batch.pk,
        "source": batch.source,
        "filename": batch.filename,
        "status": batch.status,
        "dry_run": batch.dry_run,
        "keep_valid_rows": batch.keep_valid_rows,
        "rows": batch.rows_total,
        "created": batch.created_count,
        "updated": batch.updated_count,
        "unchanged": batch.unchanged_count,
        "rejected": batch.rejected_count,
        "written": batch.status == ImportBatch.Status.SUCCEEDED and not batch.dry_run,
        "errors": batch.errors,
    }


def can_import_spend(user) -> bool:
    """Finance (or any global change right on spend) or a member/lead of some unit."""
    return has_global(user, "finance.change_spendentry") or bool(unit_ids_for(user, "change"))


def _check_source(source: str) -> str:
    source = (source or "").strip()
    if not source or len(source) > 60:
        raise ValidationError({"source": "Name the source system (1 to 60 characters)."})
    return source


def spend_import(
    *,
    acting_user,
    file: IO[bytes] | str | Path,
    source: str,
    filename: str = "",
    dry_run: bool = False,
    keep_valid_rows: bool = False,
    batch: ImportBatch | None = None,
    progress: imports.Progress | None = None,
    preview_limit: int = 0,
    phase: Callable[[str], None] | None = None,
) -> SpendImportResult:
    """Import postings (CSV or XLSX, columns ``date, initiative, kind, category, amount,
    currency, vendor, reference``) from the finance system ``source``.

    The caller can rely on:
    - every row is checked and each problem reported as (row, column, reason); a unit
      lead's rows for initiatives they cannot change are row errors;
    - all or nothing: with any bad row nothing is written, unless ``keep_valid_rows``;
    - idempotent: ``(source, reference)`` identifies a posting; re-importing the same
      file creates and updates nothing; a changed field updates the row (a real UPDATE,
      so the audit trail holds old and new, attributed to ``acting_user``);
    - an ``ImportBatch`` records the run, its counts and its (first 1,000) errors, also
      when the file is rejected; ``dry_run`` writes no spend, only the batch.
    """
    if not can_import_spend(acting_user):
        raise PermissionDenied("You may not import spend.")
    source = _check_source(source)
    opened = None
    if isinstance(file, str | Path):
        filename = filename or Path(file).name
        opened = file = open(file, "rb")  # noqa: SIM115 - closed below
    try:
        size = _size(file)
        kind = imports.open_rows(filename, file)
        if batch is None:
            batch = ImportBatch.objects.create(
                source=source,
                filename=filename[:255],
                dry_run=dry_run,
                keep_valid_rows=keep_valid_rows,
                created_by=acting_user,
            )
        batch.status, batch.started_at = ImportBatch.Status.RUNNING, timezone.now()
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=batch.status, started_at=batch.started_at
        )

        def loader(cursor):
            if kind == "xlsx":
                imports.load_xlsx(cursor, file, progress=progress)
            else:
                imports.load_csv(cursor, file, size=size, progress=progress)

        try:
            with transaction.atomic(), acting_as(acting_user):
                outcome, preview = imports.run(
                    acting_user=acting_user,
                    source=source,
                    loader=loader,
                    dry_run=dry_run,
                    keep_valid_rows=keep_valid_rows,
                    batch_id=batch.pk,
                    preview_limit=preview_limit,
                    phase=phase,
                )
                # The batch is finished in the writing transaction: the postings and the
                # batch's counts commit together, or neither does (a worker killed after
                # the write cannot leave 200,000 rows under a batch saying "running, 0").
                _finish_batch(batch, outcome, keep_valid_rows=keep_valid_rows)
                committing = time.perf_counter()
            # Foreign keys are DEFERRABLE INITIALLY DEFERRED: their checks run at commit.
            outcome.timings["commit"] = time.perf_counter() - committing
        except imports.FileFormatError as exc:
            outcome, preview = imports.Outcome(file_error=str(exc)), []
            _finish_batch(batch, outcome, keep_valid_rows=keep_valid_rows)
        except Exception as exc:
            ImportBatch.objects.filter(pk=batch.pk).update(
                status=ImportBatch.Status.FAILED,
                finished_at=timezone.now(),
                errors=[{"row": None, "column": "", "reason": f"The import stopped: {exc}"}],
            )
            raise
    finally:
        if opened is not None:
            opened.close()
    return SpendImportResult(batch=batch, outcome=outcome, preview=preview)


def _finish_batch(batch: ImportBatch, outcome: imports.Outcome, *, keep_valid_rows: bool) -> None:
    errors = [e.as_dict() for e in outcome.errors]
    if outcome.file_error:
        errors = [{"row": None, "column": "", "reason": outcome.file_error}]
    failed = bool(outcome.file_error) or (outcome.rejected and not keep_valid_rows)
    batch.status = ImportBatch.Status.FAILED if failed else ImportBatch.Status.SUCCEEDED
    batch.finished_at = timezone.now()
    batch.rows_total = batch.rows_processed = outcome.rows_total
    batch.created_count = outcome.created
    batch.updated_count = outcome.updated
    batch.unchanged_count = outcome.unchanged
    batch.rejected_count = outcome.rejected
    batch.errors = errors
    batch.save()


def import_batches_reap_abandoned(*, older_than: dt.timedelta) -> int:
    """Mark batches still "running" after ``older_than`` as failed; returns how many.

    Truthful because a batch is finished in the transaction that writes its postings: a
    batch still running is one whose transaction never committed (its worker was killed
    or lost), so nothing of it was written."""
    cutoff = timezone.now() - older_than
    return ImportBatch.objects.filter(
        status__in=[ImportBatch.Status.RUNNING, ImportBatch.Status.PENDING],
        created_at__lt=cutoff,
    ).update(
        status=ImportBatch.Status.FAILED,
        finished_at=timezone.now(),
        errors=[
            {
                "row": None,
                "column": "",
                "reason": "The import stopped before finishing (its worker was lost); "
                "nothing was written. Run it again.",
            }
        ],
    )


def _size(file) -> int:
    try:
        pos = file.tell()
        file.seek(0, 2)
        size = file.tell()
        file.seek(pos)
        return size
    except (AttributeError, OSError):
        return 0


@transaction.atomic
def spend_entries_upsert(*, acting_user, source: str, rows: list[dict]) -> dict[str, int]:
    """Create or update postings given as dicts (the API's bulk endpoint).

    Each row: ``initiative`` (code) or ``initiative_id``/an int ``initiative`` (id),
    ``posted_on``, ``kind``, ``category``, ``amount``, ``currency``, ``vendor``,
    ``reference``. Same rules as :func:`spend_import` (the same code): any bad row raises
    ``ValidationError`` with one message per problem ("Row 3, amount: ..."; rows count
    from 1) and nothing is written. Returns ``{"created", "updated", "unchanged"}``.
    """
    if not can_import_spend(acting_user):
        raise PermissionDenied("You may not import spend.")
    source = _check_source(source)
    with acting_as(acting_user):
        outcome, _ = imports.run(
            acting_user=acting_user,
            source=source,
            loader=lambda cursor: imports.load_rows(cursor, rows),
            dry_run=False,
            keep_valid_rows=False,
            batch_id=None,
        )
    if not outcome.written:
        raise ValidationError(
            [
                ValidationError(str(e), code="invalid_row", params=e.as_dict())
                for e in outcome.errors
            ]
        )
    return {"created": outcome.created, "updated": outcome.updated, "unchanged": outcome.unchanged}


@transaction.atomic
def spend_entry_create(
    *,
    acting_user,
    initiative: Initiative,
    posted_on: dt.date,
    kind: str,
    category: str,
    amount: Decimal,
    currency: str,
    vendor: str = "",
    reference: str = "",
) -> SpendEntry:
    """Record one posting by hand (source "manual"). The initiative must be one the user
    may change, checked inside the transaction."""
    if not (
        has_global(acting_user, "finance.add_spendentry")
        or Initiative.objects.editable_by(acting_user).filter(pk=initiative.pk).exists()
    ):
        raise PermissionDenied("You may not record spend for this initiative.")
    _check_currency(currency)
    if amount is None or Decimal(amount) == 0:
        raise ValidationError({"amount": "The amount must not be zero."})
    problem = date_problem(posted_on, max_future_days=SPEND_MAX_FUTURE_DAYS)
    if problem:
        raise ValidationError({"posted_on": problem})
    if reference and SpendEntry.objects.filter(source="manual", reference=reference).exists():
        raise ValidationError({"reference": "This reference is already in the ledger."})
    with acting_as(acting_user):
        return SpendEntry.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            posted_on=posted_on,
            kind=kind,
            category=category,
            amount=amount,
            currency=currency,
            vendor=vendor,
            reference=reference,
            source="manual",
            entered_by=acting_user,
        )
