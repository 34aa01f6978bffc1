from __future__ import annotations

from django import forms

from finance.focus.models import AllocationRule, CostBasis
from finance.focus.spec import SUPPORTED_VERSIONS
from finance.models import CostCategory
from people.uploads import check_upload
from portfolio.models import Initiative


class FocusUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A FOCUS cost-and-usage export: CSV, CSV compressed with gzip, or Parquet."
    )
    focus_version = forms.ChoiceField(
        required=False,
        label="FOCUS version",
        choices=[("", "Read it from the columns")] + [(v, v) for v in SUPPORTED_VERSIONS],
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        check_upload(f)  # people.uploads: the size cap every upload page applies
        return f


class AllocationRuleForm(forms.ModelForm):
    class Meta:
        model = AllocationRule
        fields = [
            "name",
            "priority",
            "active",
            "tag_key",
            "tag_value",
            "sub_account_id",
            "service_name",
            "sku_id",
            "initiative",
        ]
        help_texts = {
            "priority": "Lower runs first; the first matching rule claims a line.",
            "tag_value": "Empty with a tag key and no initiative: the value is the initiative's code.",
            "initiative": "Empty only for a tag-key rule whose values are initiative codes.",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["initiative"].queryset = Initiative.objects.visible_to(user).order_by("code")
        self.fields["initiative"].required = False

    def _post_clean(self):
        # The rules live in the service (allocation_rule_create/update), not the model form.
        pass


class CostBasisForm(forms.Form):
    cost_basis = forms.ChoiceField(choices=CostBasis.choices, widget=forms.RadioSelect)


class ServiceCategoryForm(forms.Form):
    service_category = forms.CharField(max_length=60)
    cost_category = forms.ChoiceField(choices=CostCategory.choices)
