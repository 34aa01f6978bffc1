"""Record-level governance rules shared by the model's ``clean()``, the forms, the
serializers and the services, so every path asks the same function.

- Attestations: the attester is the acting user; the date is not in the future nor
  back-dated beyond the control's ``max_backdate_days``; every attested (or declared not
  applicable) control expires within its validity period (a database trigger fills a
  missing expiry for rows written any other way).
- Fairness audits: the auditor is the acting user; on a high-risk initiative the audit
  is recorded by someone outside the initiative's team.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

HIGH_RISK_TIERS = ("high", "prohibited")
STAMPED = ("attested", "not_applicable")


def attestation_date_errors(att, *, today: dt.date | None = None) -> dict[str, str]:
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    control = att.control if att.control_id else None
    if att.attested_on and att.attested_on > today:
        errors["attested_on"] = "An attestation cannot be dated in the future."
    elif att.attested_on and control is not None:
        previous = None
        if att.pk:
            previous = (
                type(att).objects.filter(pk=att.pk).values_list("attested_on", flat=True).first()
            )
        earliest = today - dt.timedelta(days=control.max_backdate_days)
        if att.attested_on != previous and att.attested_on < earliest:
            errors["attested_on"] = (
                f"{control.code} may be back-dated by {control.max_backdate_days} days at most "
                f"(not before {earliest:%d %b %Y})."
            )
    if att.expires_on and att.attested_on:
        if att.expires_on <= att.attested_on:
            errors["expires_on"] = "The expiry must come after the attestation date."
        elif control is not None and control.validity_days:
            latest = att.attested_on + dt.timedelta(days=control.validity_days)
            if att.expires_on > latest:
                errors["expires_on"] = (
                    f"{control.code} is valid for {control.validity_days} days: "
                    f"the expiry is {latest:%d %b %Y} at the latest."
                )
    return errors


def attestation_stamp(
    *,
    acting_user,
    control,
    status: str,
    attested_on: dt.date | None = None,
    expires_on: dt.date | None = None,
    instance=None,
    today: dt.date | None = None,
) -> dict:
    """The server-set fields of an attestation being written by ``acting_user``:
    ``attested_by`` is always the acting user, ``attested_on`` defaults to today and
    ``expires_on`` to the end of the control's validity period. Raises
    ``ValidationError`` (by field) for dates that cannot be true."""
    from governance.models import ControlAttestation

    today = today or timezone.localdate()
    if status not in STAMPED:
        return {"attested_by": None, "attested_on": None, "expires_on": None}
    attested_on = attested_on or (
        instance.attested_on if instance is not None and instance.attested_on else today
    )
    if expires_on is None and control.validity_days:
        expires_on = attested_on + dt.timedelta(days=control.validity_days)
    probe = ControlAttestation(
        pk=getattr(instance, "pk", None),
        control=control,
        attested_on=attested_on,
        expires_on=expires_on,
    )
    errors = attestation_date_errors(probe, today=today)
    if errors:
        raise ValidationError(errors)
    return {"attested_by": acting_user, "attested_on": attested_on, "expires_on": expires_on}


def fairness_auditor_problem(user, initiative) -> str:
    """Why ``user`` may not record a fairness audit of ``initiative`` ("" if they may):
    on a high-risk initiative the auditor is someone outside its team."""
    from portfolio.services import on_team

    if initiative.risk_tier in HIGH_RISK_TIERS and on_team(user, initiative):
        return (
            "This initiative is high risk: its fairness audit is recorded by someone outside "
            "its team (a CoE, PMO or independent reviewer)."
        )
    return ""
