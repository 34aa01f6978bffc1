"""Forms for portfolio pages. Foreign-key choices are limited to what the user may edit/see."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils import timezone

from people.models import BusinessUnit, CenterOfExcellence
from portfolio.models import KPI, Assignment, Initiative, Objective

# One rule for the owners form, the API and the admin: portfolio.services.owner_candidates.
from portfolio.services import move_owner_problems, owner_candidates


class InitiativeForm(forms.ModelForm):
    class Meta:
        model = Initiative
        fields = [
            "code",
            "name",
            "business_unit",
            "summary",
            "problem",
            "objectives",
            "started_on",
            "build_or_buy",
            "integration_depth",
            "coe",
            "uses_pii",
            "uses_demographics",
        ]
        labels = {
            "code": "Code",
            "name": "Name",
            "summary": "Summary",
            "problem": "Business problem it solves",
            "started_on": "Started on",
            "build_or_buy": "Build or buy",
            "integration_depth": "Integration depth",
            "coe": "Centre of excellence support",
            "uses_pii": "Uses personal data",
            "uses_demographics": "Uses demographic features",
        }
        help_texts = {
            "code": "A short unique reference, e.g. AI-RETAIL-042.",
            "business_unit": "Only units you may change are listed.",
        }
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 3}),
            "problem": forms.Textarea(attrs={"rows": 3}),
            "started_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "objectives": forms.SelectMultiple(attrs={"size": 4}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["business_unit"].queryset = BusinessUnit.objects.editable_by(user).order_by(
            "name"
        )
        self.fields["business_unit"].empty_label = "Choose a unit"
        self.fields["coe"].queryset = CenterOfExcellence.objects.order_by("name")
        self.fields["coe"].empty_label = "None"
        self.fields["objectives"].queryset = Objective.objects.order_by("code")
        self.fields["objectives"].required = False

    def clean_code(self):
        code = self.cleaned_data["code"].strip().upper()
        clash = Initiative.objects.filter(code=code)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            # Codes are unique across the organisation, including units you cannot see.
            raise forms.ValidationError("This code is already used by another initiative.")
        return code

    def clean_business_unit(self):
        # A change of unit is a move; the service refuses one that would strand owners
        # (portfolio.services.move_owner_problems): say so on the field, before saving.
        unit = self.cleaned_data["business_unit"]
        if self.instance.pk and unit is not None and unit.pk != self.instance.business_unit_id:
            problem = move_owner_problems({self.instance.pk: unit.pk}).get(self.instance.pk)
            if problem:
                raise forms.ValidationError(problem)
        return unit


class MeasurementForm(forms.Form):
    kpi = forms.ModelChoiceField(queryset=KPI.objects.none(), label="KPI", empty_label=None)
    measured_on = forms.DateField(
        label="Measured on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    value = forms.DecimalField(label="Value", max_digits=18, decimal_places=4)
    note = forms.CharField(label="Note", max_length=500, required=False)

    def __init__(self, *args, user, initiative: Initiative, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kpi"].queryset = (
            KPI.objects.editable_by(user).filter(initiative=initiative).order_by("name")
        )
        self.fields["kpi"].label_from_instance = lambda k: f"{k.name} ({k.unit})"
        if not self.is_bound:
            self.initial.setdefault("measured_on", timezone.localdate())

    def clean_measured_on(self):
        day = self.cleaned_data["measured_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("A measurement cannot be in the future.")
        return day


def _date_widget():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class KPIForm(forms.ModelForm):
    """Add or change a KPI of one initiative. The model's check constraints are repeated in
    clean() so they come back as field errors instead of database errors."""

    class Meta:
        model = KPI
        fields = [
            "name",
            "kind",
            "category",
            "unit",
            "direction",
            "baseline_value",
            "baseline_date",
            "target_value",
            "target_date",
            "cadence",
            "value_per_unit",
            "value_currency",
        ]
        labels = {
            "name": "Name",
            "kind": "Kind",
            "category": "Category",
            "unit": "Unit of measure",
            "direction": "Direction",
            "baseline_value": "Baseline value",
            "baseline_date": "Baseline measured on",
            "target_value": "Target value",
            "target_date": "Target date",
            "cadence": "Measured",
            "value_per_unit": "Value per unit of improvement",
            "value_currency": "Currency of that value",
        }
        help_texts = {
            "unit": "Hours, %, ms, cases...",
            "kind": "The stage gate needs at least one business KPI with a baseline.",
            "value_per_unit": "Optional: what one unit of improvement over the baseline is worth.",
        }
        widgets = {"baseline_date": _date_widget(), "target_date": _date_widget()}

    def __init__(self, *args, initiative: Initiative, **kwargs):
        kwargs.setdefault(
            "instance", KPI(initiative=initiative, business_unit_id=initiative.business_unit_id)
        )
        super().__init__(*args, **kwargs)
        currencies = list(settings.CURRENCIES)
        current = self.instance.value_currency
        if current and current not in currencies:
            currencies.append(current)
        self.fields["value_currency"] = forms.ChoiceField(
            label="Currency of that value",
            required=False,
            choices=[("", "None")] + [(c, c) for c in currencies],
        )

    def clean(self):
        data = super().clean()
        pairs = (
            ("baseline_value", "baseline_date", "A baseline needs the date it was measured."),
            ("target_value", "target_date", "A target needs the date it should be reached by."),
            ("value_per_unit", "value_currency", "A value per unit needs a currency."),
        )
        for value_field, partner, message in pairs:
            if value_field in self.errors or partner in self.errors:
                continue
            if data.get(value_field) is not None and not data.get(partner):
                self.add_error(partner, message)
        return data


class OwnersForm(forms.Form):
    """One optional person per Assignment role; choosing nobody removes the assignment."""

    def __init__(self, *args, initiative: Initiative, **kwargs):
        super().__init__(*args, **kwargs)
        self.initiative = initiative
        current = {a.role: a.user for a in initiative.assignments.select_related("user")}
        candidates = list(owner_candidates(initiative))
        allowed = {u.pk for u in candidates}
        for role, label in Assignment.Role.choices:
            field = forms.TypedChoiceField(
                label=label,
                required=False,
                coerce=int,
                empty_value=None,
                choices=[("", "Nobody")]
                + [(u.pk, u.get_full_name() or u.get_username()) for u in candidates],
            )
            holder = current.get(role)
            if holder is not None:
                if holder.pk in allowed:
                    self.initial.setdefault(role, holder.pk)
                else:
                    name = holder.get_full_name() or holder.get_username()
                    field.help_text = (
                        f"Currently {name}, who no longer has access to this unit; "
                        "saving replaces them."
                    )
            self.fields[role] = field
        self.current = {role: user.pk for role, user in current.items()}
        self._users = {u.pk: u for u in candidates}

    def changes(self) -> dict[str, object]:
        """role -> the chosen User (or None to remove), only for roles that change."""
        out = {}
        for role, _label in Assignment.Role.choices:
            chosen = self.cleaned_data.get(role)
            if chosen != self.current.get(role):
                out[role] = self._users[chosen] if chosen is not None else None
        return out
