"""Forms for governance pages. Foreign-key choices are what the user may edit."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.models import (
    AISystem,
    Control,
    ControlAttestation,
    ExplainabilityRecord,
    FairnessAudit,
    Incident,
    ModelVersion,
)
from governance.rules import attestation_stamp, fairness_auditor_problem
from people.models import BusinessUnit, UnitRole
from people.selectors import people_for_units
from portfolio.choices import RiskTier, Stage
from portfolio.models import Initiative, StageTransition
from portfolio.widgets import InitiativeChoiceField

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _label_user(u):
    return u.get_full_name() or u.get_username()


class _InitiativeScoped(forms.ModelForm):
    """A record of one initiative: the choices are the initiatives the user may change."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "initiative" in self.fields:
            old = self.fields["initiative"]
            # A code with suggestions, not a drop-down of thousands of initiatives.
            self.fields["initiative"] = InitiativeChoiceField(
                Initiative.objects.editable_by(user).order_by("code"),
                required=old.required,
                disabled=old.disabled,
                label=old.label,
                help_text="The code of an initiative you may change.",
            )


class AttestationForm(_InitiativeScoped):
    """The attester is the signed-in user; the dates follow ``governance.rules``."""

    class Meta:
        model = ControlAttestation
        fields = ["initiative", "control", "status", "evidence", "attested_on", "expires_on"]
        widgets = {
            "evidence": forms.Textarea(attrs={"rows": 3}),
            "attested_on": DATE,
            "expires_on": DATE,
        }
        help_texts = {
            "evidence": "A link or reference to the proof: test report, runbook, sign-off.",
            "attested_on": "Left empty: today. Not in the future, and back-dated only as far "
            "as the control allows.",
            "expires_on": "Left empty, it is set from the control's validity period.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["control"].queryset = Control.objects.order_by("code")
        self._stamp = {}

    def clean(self):
        data = super().clean()
        if (
            data.get("status") == ControlAttestation.Status.ATTESTED
            and not (data.get("evidence") or "").strip()
        ):
            self.add_error("evidence", "An attested control needs its evidence.")
        initiative, control = data.get("initiative"), data.get("control")
        if (
            initiative
            and control
            and not self.instance.pk
            and ControlAttestation.objects.filter(initiative=initiative, control=control).exists()
        ):
            self.add_error("control", "This control is already attested here; edit that record.")
        if control and data.get("status"):
            try:
                self._stamp = attestation_stamp(
                    acting_user=self.user,
                    control=control,
                    status=data["status"],
                    attested_on=data.get("attested_on"),
                    expires_on=data.get("expires_on"),
                    instance=self.instance if self.instance.pk else None,
                )
            except ValidationError as exc:
                for field, errs in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errs)
        return data

    def _post_clean(self):
        # The server-set fields go on the instance before the model's own clean().
        for name, value in self._stamp.items():
            setattr(self.instance, name, value)
        super()._post_clean()
        for name, value in self._stamp.items():
            setattr(self.instance, name, value)

    def save(self, commit=True):
        obj = super().save(commit=False)
        for name, value in self._stamp.items():
            setattr(obj, name, value)
        if commit:
            obj.save()
        return obj


class FairnessAuditForm(_InitiativeScoped):
    protected_attributes = forms.CharField(
        help_text="Comma-separated, e.g. age, sex, ethnicity.", required=False
    )

    class Meta:
        model = FairnessAudit
        fields = [
            "initiative",
            "model_version",
            "protected_attributes",
            "metrics",
            "result",
            "audited_on",
            "remediation_plan",
            "remediation_due",
        ]
        widgets = {
            "audited_on": DATE,
            "remediation_due": DATE,
            "remediation_plan": forms.Textarea(attrs={"rows": 3}),
            "metrics": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {"metrics": 'Per group, as JSON: {"age": {"tpr_gap": 0.02}}'}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = ModelVersion.objects.editable_by(
            self.user
        ).select_related("ai_system")
        if self.instance.pk:
            self.initial["protected_attributes"] = ", ".join(self.instance.protected_attributes)

    def clean_protected_attributes(self):
        raw = self.cleaned_data.get("protected_attributes") or ""
        return [a.strip() for a in raw.split(",") if a.strip()]

    def clean(self):
        data = super().clean()
        if data.get("result") == FairnessAudit.Result.FAIL:
            if not (data.get("remediation_plan") or "").strip():
                self.add_error("remediation_plan", "A failed audit needs a remediation plan.")
            if not data.get("remediation_due"):
                self.add_error("remediation_due", "Say when the remediation is due.")
        mv = data.get("model_version")
        if mv and data.get("initiative") and mv.ai_system.initiative_id != data["initiative"].pk:
            self.add_error("model_version", "That model version belongs to another initiative.")

        initiative = data.get("initiative")
        if initiative is not None:
            problem = fairness_auditor_problem(self.user, initiative)
            if problem:
                self.add_error(None, problem)
        return data

    def save(self, commit=True):
        obj = super().save(commit=False)
        obj.auditor = self.user  # who recorded it, never chosen
        if commit:
            obj.save()
        return obj


class ExplainabilityForm(_InitiativeScoped):
    class Meta:
        model = ExplainabilityRecord
        fields = ["initiative", "logic", "limitations", "intended_use", "appeal_process"]
        widgets = {
            f: forms.Textarea(attrs={"rows": 3})
            for f in ("logic", "limitations", "intended_use", "appeal_process")
        }

    def save(self, commit=True):
        obj = super().save(commit=False)
        obj.updated_by = self.user
        if commit:
            obj.save()
        return obj


class AISystemForm(_InitiativeScoped):
    class Meta:
        model = AISystem
        fields = ["initiative", "name", "description", "owner", "vendor"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Owners are people of the units the user works in (and above), or global roles;
        # clean() narrows it to the chosen initiative's unit.
        units = Initiative.objects.editable_by(self.user).values_list("business_unit_id", flat=True)
        if self.instance.pk:
            units = [self.instance.business_unit_id]
        self.fields["owner"].queryset = people_for_units(set(units))
        self.fields["owner"].label_from_instance = _label_user
        self.fields[
            "owner"
        ].help_text = "People of the initiative's unit (or a unit above it), or of a global role."

    def clean(self):
        data = super().clean()
        initiative = data.get("initiative") or self.instance_initiative()
        owner = data.get("owner")
        if (
            initiative is not None
            and owner is not None
            and not people_for_units([initiative.business_unit_id]).filter(pk=owner.pk).exists()
        ):
            self.add_error("owner", "Choose someone of the initiative's unit or a global role.")
        return data

    def instance_initiative(self):
        return self.instance.initiative if self.instance.initiative_id else None


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = [
            "ai_system",
            "version",
            "status",
            "datasets",
            "training_run_ref",
            "parameters",
            "metrics",
            "retrain_interval_days",
        ]
        help_texts = {
            "status": "Production is reached only through the promote action.",
            "parameters": 'JSON, e.g. {"max_depth": 6}',
            "metrics": 'JSON, e.g. {"auc": 0.91}',
            "retrain_interval_days": "Days between automated retraining runs, if automated.",
        }
        widgets = {
            "parameters": forms.Textarea(attrs={"rows": 2}),
            "metrics": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["ai_system"].queryset = AISystem.objects.editable_by(user).order_by("name")
        from governance.models import Dataset

        self.fields["datasets"].queryset = Dataset.objects.editable_by(user).order_by("name")
        self.fields["datasets"].required = False
        self.fields["status"].choices = [
            c for c in ModelVersion.Status.choices if c[0] != ModelVersion.Status.PRODUCTION
        ]

    def save(self, commit=True):
        obj = super().save(commit=False)
        if not obj.pk:
            obj.created_by = self.user
        if commit:
            obj.save()
            self.save_m2m()
        return obj


class RiskAssessmentForm(forms.Form):
    initiative = InitiativeChoiceField()
    eu_tier = forms.ChoiceField(
        label="EU AI Act tier",
        choices=[c for c in RiskTier.choices if c[0] != RiskTier.UNASSESSED],
    )
    us_high_impact = forms.NullBooleanField(
        label="US federal high-impact",
        widget=forms.Select(
            choices=[("unknown", "Not assessed"), ("true", "Yes"), ("false", "No")]
        ),
        required=False,
    )
    us_justification = forms.CharField(
        label="High-impact justification", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    next_review_due = forms.DateField(
        widget=DATE, required=False, help_text="Left empty: 6 months for high risk, else a year."
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["initiative"].queryset = Initiative.objects.editable_by(user).order_by("code")


class IncidentForm(forms.Form):
    initiative = InitiativeChoiceField()
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=Incident.Severity.choices)
    detected_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), required=False
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    escalation_level = forms.IntegerField(min_value=1, max_value=5, initial=1)
    escalation_path = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Who is told at each level, e.g. operator → unit lead → CRO.",
    )
    review_due = forms.DateField(
        label="Post-incident review due",
        widget=DATE,
        required=False,
        help_text="Left empty: 14 days for high/critical, else 30.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["initiative"].queryset = Initiative.objects.editable_by(user).order_by("code")


class IncidentUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    severity = forms.ChoiceField(choices=Incident.Severity.choices)
    escalation_level = forms.IntegerField(min_value=1, max_value=5)
    note = forms.CharField(label="Timeline note", required=False)
    review_summary = forms.CharField(
        label="Post-incident review", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class GateRequestForm(forms.Form):
    note = forms.CharField(
        label="Note to the reviewer", widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class EvidenceForm(forms.Form):
    standard = forms.IntegerField(widget=forms.HiddenInput)
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class GateDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[])
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    sunk_cost = forms.DecimalField(
        required=False,
        max_digits=14,
        decimal_places=2,
        help_text="Kill or retire: left empty, it is the initiative's recorded spend.",
    )
    sunk_cost_currency = forms.ChoiceField(
        label="Sunk cost currency",
        required=False,
        choices=[("", "—")] + [(c, c) for c in settings.CURRENCIES],
        help_text="The currency of the sunk cost you enter.",
    )
    salvaged = forms.CharField(
        label="What is salvaged",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Data, components or knowledge reused elsewhere.",
    )
    lessons = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    to_stage = forms.ChoiceField(
        label="To stage",
        required=False,
        choices=[],
        help_text="Pivot or roll back: the stage to go to (left empty: the usual one).",
    )

    def __init__(self, *args, review, blocking=(), **kwargs):
        super().__init__(*args, **kwargs)
        from governance.services import review_decisions
        from portfolio.transitions import allowed_moves

        D = StageTransition.Decision
        stage_label = dict(Stage.choices)
        decisions = review_decisions(review)
        moves = allowed_moves(review.from_stage, decisions=decisions)

        def targets(decision) -> str:
            # The stages the table allows for ``decision``, the usual one first, in words.
            names = [stage_label[m.to_stage].lower() for m in moves if m.decision == decision]
            if len(names) < 2:
                return "".join(names)
            return ", ".join(names[:-1]) + " or " + names[-1]

        labels = {
            D.ADVANCE: f"Advance to {review.get_target_stage_display()}",
            D.HOLD: "Continue (hold in stage)"
            if review.reason == review.Reason.INCIDENT
            else "Hold",
            D.PIVOT: f"Pivot (a new approach, in {targets(D.PIVOT)})",
            D.ROLL_BACK: f"Roll back to {targets(D.ROLL_BACK)}",
            D.KILL: "Kill",
            D.RETIRE: "Retire",
        }
        # The same table the service reads: nothing is offered that it would refuse.
        self.fields["decision"].choices = [(d, labels[d]) for d in decisions]
        stages = dict.fromkeys(m.to_stage for m in moves if m.decision in (D.PIVOT, D.ROLL_BACK))
        self.fields["to_stage"].choices = [("", "The usual stage")] + [
            (s, stage_label[s]) for s in stages
        ]
        self.blocking = list(blocking)
        for line in self.blocking:
            sid = line.standard.pk
            self.fields[f"waive_{sid}"] = forms.BooleanField(
                required=False, label=f"Waive {line.standard.code} {line.standard.name}"
            )
            self.fields[f"waive_{sid}_reason"] = forms.CharField(
                required=False, label=f"{line.standard.code}: reason for the waiver"
            )
            self.fields[f"waive_{sid}_expires"] = forms.DateField(
                required=False, label=f"{line.standard.code}: waiver expires on", widget=DATE
            )

    def waivers(self) -> dict[int, dict]:
        out = {}
        for line in self.blocking:
            sid = line.standard.pk
            if self.cleaned_data.get(f"waive_{sid}"):
                out[sid] = {
                    "reason": self.cleaned_data.get(f"waive_{sid}_reason") or "",
                    "expires_on": self.cleaned_data.get(f"waive_{sid}_expires"),
                }
        return out


class AccessReviewOpenForm(forms.Form):
    business_unit = forms.ModelChoiceField(queryset=BusinessUnit.objects.none())
    reviewer = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    due_on = forms.DateField(widget=DATE)
    name = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = BusinessUnit.objects.manageable_by(user).order_by(
            "name"
        )
        # The one rule for people named on a record (people_for_units), narrowed to leads:
        # leads of these units or a unit above them, and PMO or CoE. clean() narrows it to
        # the chosen unit, as the service does.
        units = self.fields["business_unit"].queryset
        named_leads = get_user_model().objects.filter(
            pk__in=units.exclude(lead=None).values("lead_id")
        )
        self.fields["reviewer"].queryset = (
            people_for_units(units.values_list("pk", flat=True), unit_roles=[UnitRole.LEAD])
            | named_leads.distinct()
        ).order_by("first_name", "last_name", "username")
        self.fields["reviewer"].label_from_instance = _label_user
        self.fields["due_on"].initial = timezone.localdate() + timedelta(days=14)

    def clean(self):
        data = super().clean()
        unit, reviewer = data.get("business_unit"), data.get("reviewer")
        from governance.services import may_review_access

        if unit is not None and reviewer is not None and not may_review_access(reviewer, unit):
            self.add_error("reviewer", "Choose a lead of this unit (or above it), PMO or CoE.")
        return data
