"""Finance forms: foreign-key choices limited to what the user may change."""

from __future__ import annotations

from django import forms
from django.conf import settings

from finance.models import (
    Budget,
    CostCategory,
    CostKind,
    current_fiscal_year,
    kind_category_error,
)
from people.scoping import has_global
from people.uploads import check_upload
from portfolio.choices import END_STAGES
from portfolio.models import Initiative
from portfolio.widgets import InitiativeChoiceField


def _currency_choices():
    return [(c, c) for c in settings.CURRENCIES]


def _initiatives_for(user, perm: str):
    if has_global(user, perm):
        return Initiative.objects.order_by("code")
    return Initiative.objects.editable_by(user).order_by("code")


class BudgetRequestForm(forms.Form):
    initiative = InitiativeChoiceField()  # a code with suggestions: thousands at scale
    fiscal_year = forms.IntegerField(min_value=2000, max_value=2100)
    kind = forms.ChoiceField(choices=CostKind.choices)
    category = forms.ChoiceField(choices=CostCategory.choices)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0.01)
    currency = forms.ChoiceField(choices=())
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Ended initiatives get no new budget (finance.services.budget_request).
        self.fields["initiative"].queryset = _initiatives_for(user, "finance.add_budget").exclude(
            stage__in=END_STAGES
        )
        self.fields["currency"].choices = _currency_choices()
        self.fields["currency"].initial = settings.REPORTING_CURRENCY
        self.fields["fiscal_year"].initial = current_fiscal_year()

    def clean(self):
        data = super().clean()
        problem = kind_category_error(data.get("kind"), data.get("category"))
        if problem and "category" not in self.errors:
            self.add_error("category", problem)
        return data


class BudgetDecisionForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Decision note"
    )


class BudgetAmendForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0.01, label="New amount")
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class SpendEntryForm(forms.Form):
    initiative = InitiativeChoiceField()  # a code with suggestions: thousands at scale
    posted_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Posted on")
    kind = forms.ChoiceField(choices=CostKind.choices)
    category = forms.ChoiceField(choices=CostCategory.choices)
    amount = forms.DecimalField(max_digits=14, decimal_places=2)
    currency = forms.ChoiceField(choices=())
    vendor = forms.CharField(max_length=200, required=False)
    reference = forms.CharField(max_length=100, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["initiative"].queryset = _initiatives_for(user, "finance.add_spendentry")
        self.fields["currency"].choices = _currency_choices()
        self.fields["currency"].initial = settings.REPORTING_CURRENCY


class SpendImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (UTF-8) or XLSX with the columns listed above.")
    source = forms.CharField(
        max_length=60, initial="erp", help_text="The finance system the file comes from."
    )
    keep_valid_rows = forms.BooleanField(
        required=False,
        label="Keep the valid rows",
        help_text="Write the valid rows even if some are rejected (default: all or nothing).",
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        name = f.name.lower()
        if not name.endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError("Upload a .csv or .xlsx file.")
        check_upload(f)  # size cap; an XLSX may not unpack to more than its cap
        return f


BUDGET_STATUS_BADGES = {
    Budget.Status.REQUESTED: "warning",
    Budget.Status.APPROVED: "success",
    Budget.Status.REJECTED: "danger",
    Budget.Status.SUPERSEDED: "secondary",
    Budget.Status.DRAFT: "light",
}
