"""Forms for portfolio pages. Foreign-key choices are limited to what the user may edit/see."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from people.models import BusinessUnit, CenterOfExcellence
from portfolio.models import KPI, Initiative, Objective


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
            "risk_tier",
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
            "risk_tier": "Risk tier (EU AI Act)",
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
