from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from finance.models import Budget, CostCategory, CostKind, SpendEntry
from people.api.base import ScopedPrimaryKeyRelatedField
from portfolio.models import Initiative


class BudgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Budget
        fields = [
            "id",
            "initiative",
            "business_unit",
            "fiscal_year",
            "kind",
            "category",
            "amount",
            "currency",
            "status",
            "justification",
            "requested_by",
            "requested_at",
            "approved_by",
            "decided_at",
            "decision_note",
            "amends",
            "updated_at",
        ]
        read_only_fields = fields


class BudgetRequestSerializer(serializers.Serializer):
    """Ask for money: the request waits for someone else (finance) to approve it."""

    initiative = ScopedPrimaryKeyRelatedField(scope="visible", queryset=Initiative.objects.all())
    fiscal_year = serializers.IntegerField(min_value=2000, max_value=2100)
    kind = serializers.ChoiceField(choices=CostKind.choices)
    category = serializers.ChoiceField(choices=CostCategory.choices)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.ChoiceField(choices=[])
    justification = serializers.CharField(required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = settings.CURRENCIES


class BudgetDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class SpendEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = SpendEntry
        fields = [
            "id",
            "initiative",
            "business_unit",
            "posted_on",
            "kind",
            "category",
            "amount",
            "currency",
            "vendor",
            "source",
            "reference",
            "updated_at",
        ]
        read_only_fields = fields


class SpendRowSerializer(serializers.Serializer):
    """One posting (documentation of a row; rows are validated together by the
    service, which reports each bad row as ``rows.<index>.<field>``)."""

    reference = serializers.CharField(max_length=100)
    initiative = serializers.IntegerField(help_text="Initiative id")
    posted_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=CostKind.choices)
    category = serializers.ChoiceField(choices=CostCategory.choices)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField(max_length=3)
    vendor = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SpendBulkSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=60)
    rows = SpendRowSerializer(many=True, allow_empty=False, max_length=5000)


class SpendBulkEnvelopeSerializer(serializers.Serializer):
    """What the endpoint checks itself; the rows are checked by the service in one pass
    (set-based, in the database), which is what keeps 10,000 postings fast."""

    source = serializers.CharField(max_length=60)
    rows = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=5000)


class SpendBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
