from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers

from governance.models import (
    AccessReview,
    AccessReviewItem,
    AISystem,
    Control,
    ControlAttestation,
    Dataset,
    FairnessAudit,
    GateReview,
    Incident,
    ModelRollback,
    ModelVersion,
    RiskAssessment,
    Standard,
    Waiver,
)
from governance.rules import attestation_stamp, fairness_auditor_problem
from people.api.base import ScopedModelSerializer, ScopedPrimaryKeyRelatedField
from people.selectors import people_for_units
from portfolio.choices import RiskTier, Stage
from portfolio.models import Initiative, StageTransition


class AISystemSerializer(ScopedModelSerializer):
    class Meta:
        model = AISystem
        fields = [
            "id",
            "initiative",
            "business_unit",
            "name",
            "description",
            "owner",
            "vendor",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "updated_at"]

    def validate(self, attrs):
        """The owner is someone of the initiative's unit (or above) or of a global role."""
        attrs = super().validate(attrs)
        initiative = attrs.get("initiative") or getattr(self.instance, "initiative", None)
        owner = attrs.get("owner")
        if (
            initiative is not None
            and owner is not None
            and not people_for_units([initiative.business_unit_id]).filter(pk=owner.pk).exists()
        ):
            raise serializers.ValidationError(
                {"owner": "Choose someone of the initiative's unit or a global role."}
            )
        return attrs


class ModelVersionSerializer(ScopedModelSerializer):
    """Registering a version records its creator; production comes only from the promote
    action, approved by someone else."""

    unit_from = "ai_system"
    datasets = ScopedPrimaryKeyRelatedField(
        many=True, required=False, queryset=Dataset.objects.all()
    )
    status = serializers.ChoiceField(
        choices=[
            (ModelVersion.Status.DEVELOPMENT, "Development"),
            (ModelVersion.Status.STAGING, "Staging"),
        ],
        required=False,
        help_text="development or staging; use the promote action for production",
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "ai_system",
            "business_unit",
            "version",
            "status",
            "datasets",
            "training_run_ref",
            "parameters",
            "metrics",
            "created_by",
            "approved_by",
            "deployed_at",
            "retired_at",
            "retrain_interval_days",
            "last_validated_at",
            "updated_at",
        ]
        read_only_fields = [
            "business_unit",
            "created_by",
            "approved_by",
            "deployed_at",
            "retired_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["status"] = instance.status  # production/retired are shown, never written
        return data

    def validate(self, attrs):
        if self.instance is None:
            attrs["created_by"] = self.context["request"].user
        elif (
            self.instance.status in (ModelVersion.Status.PRODUCTION, ModelVersion.Status.RETIRED)
            and "status" in attrs
            and attrs["status"] != self.instance.status
        ):
            raise serializers.ValidationError(
                {"status": "A version in production or retired keeps its status."}
            )
        return super().validate(attrs)


class ModelVersionListSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "ai_system",
            "business_unit",
            "version",
            "status",
            "created_by",
            "approved_by",
            "deployed_at",
            "updated_at",
        ]
        read_only_fields = fields


class RiskAssessmentSerializer(ScopedModelSerializer):
    class Meta:
        model = RiskAssessment
        fields = [
            "id",
            "initiative",
            "business_unit",
            "eu_tier",
            "us_high_impact",
            "us_justification",
            "status",
            "assessor",
            "assessed_on",
            "next_review_due",
            "notes",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "updated_at"]


class ControlSerializer(serializers.ModelSerializer):
    class Meta:
        model = Control
        fields = [
            "id",
            "code",
            "name",
            "description",
            "standard",
            "applies_to_tiers",
            "applies_from_stage",
            "validity_days",
            "updated_at",
        ]
        read_only_fields = fields


class ControlAttestationSerializer(ScopedModelSerializer):
    class Meta:
        model = ControlAttestation
        fields = [
            "id",
            "initiative",
            "business_unit",
            "control",
            "status",
            "evidence",
            "attested_by",
            "attested_on",
            "expires_on",
            "updated_at",
        ]
        # The attester is the caller; the dates follow governance.rules.
        read_only_fields = ["business_unit", "attested_by", "updated_at"]

    def validate(self, attrs):
        control = attrs.get("control", getattr(self.instance, "control", None))
        status = attrs.get("status", getattr(self.instance, "status", None))
        if control is not None and status:
            try:
                attrs.update(
                    attestation_stamp(
                        acting_user=self.context["request"].user,
                        control=control,
                        status=status,
                        attested_on=attrs.get("attested_on"),
                        expires_on=attrs.get(
                            "expires_on",
                            getattr(self.instance, "expires_on", None)
                            if "attested_on" not in attrs
                            else None,
                        ),
                        instance=self.instance,
                    )
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return super().validate(attrs)


class FairnessAuditSerializer(ScopedModelSerializer):
    class Meta:
        model = FairnessAudit
        fields = [
            "id",
            "initiative",
            "business_unit",
            "model_version",
            "protected_attributes",
            "metrics",
            "result",
            "auditor",
            "audited_on",
            "remediation_plan",
            "remediation_due",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "auditor", "updated_at"]

    def validate(self, attrs):
        attrs["auditor"] = self.context["request"].user  # who recorded it, never chosen
        initiative = attrs.get("initiative", getattr(self.instance, "initiative", None))
        if initiative is not None:
            problem = fairness_auditor_problem(self.context["request"].user, initiative)
            if problem:
                raise exceptions.PermissionDenied(problem)
        version = attrs.get("model_version", getattr(self.instance, "model_version", None))
        if (
            version is not None
            and initiative is not None
            and version.ai_system.initiative_id != initiative.pk
        ):
            raise serializers.ValidationError(
                {"model_version": "This model version belongs to another initiative."}
            )
        return super().validate(attrs)


class IncidentSerializer(ScopedModelSerializer):
    class Meta:
        model = Incident
        fields = [
            "id",
            "initiative",
            "business_unit",
            "title",
            "description",
            "severity",
            "status",
            "detected_at",
            "resolved_at",
            "escalation_level",
            "escalation_path",
            "timeline",
            "reported_by",
            "review_due",
            "review_summary",
            "review_completed_on",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "reported_by", "updated_at"]

    def validate(self, attrs):
        if self.instance is None:
            attrs["reported_by"] = self.context["request"].user
        return super().validate(attrs)


class AccessReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessReview
        fields = [
            "id",
            "business_unit",
            "name",
            "reviewer",
            "status",
            "opened_on",
            "due_on",
            "closed_on",
            "updated_at",
        ]
        read_only_fields = fields


class AccessReviewItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessReviewItem
        fields = [
            "id",
            "review",
            "business_unit",
            "membership",
            "user",
            "role",
            "decision",
            "decided_by",
            "decided_at",
            "note",
            "updated_at",
        ]
        read_only_fields = fields


class AccessReviewDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=[AccessReviewItem.Decision.KEEP, AccessReviewItem.Decision.REVOKE]
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AuditEventSerializer(serializers.Serializer):
    """One change to a governed record: who, when, what, and the field-level diff."""

    id = serializers.CharField(source="pgh_slug")
    model = serializers.CharField(source="pgh_obj_model")
    object_id = serializers.CharField(source="pgh_obj_id", allow_null=True)
    object_name = serializers.CharField(help_text="The record's name, as the app shows it")
    label = serializers.CharField(source="pgh_label")
    created_at = serializers.DateTimeField(source="pgh_created_at")
    user = serializers.IntegerField(source="user_id", allow_null=True)
    url = serializers.CharField(allow_null=True)
    data = serializers.JSONField(source="pgh_data")
    diff = serializers.JSONField(source="pgh_diff", allow_null=True)
    changes = serializers.SerializerMethodField(
        help_text="Field label, old and new value as the app shows them (names, not ids)"
    )

    def get_changes(self, event) -> list[dict]:
        return [{"field": f, "old": old, "new": new} for f, old, new in event.changes]


class GateReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = GateReview
        fields = [
            "id",
            "initiative",
            "business_unit",
            "reason",
            "from_stage",
            "target_stage",
            "status",
            "requested_by",
            "requested_at",
            "request_note",
            "decision",
            "rationale",
            "decided_by",
            "decided_at",
            "transition",
            "updated_at",
        ]
        read_only_fields = fields


class GateReviewRequestSerializer(serializers.Serializer):
    initiative = ScopedPrimaryKeyRelatedField(scope="visible", queryset=Initiative.objects.all())
    target_stage = serializers.ChoiceField(choices=Stage.choices, required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class WaiverSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    expires_on = serializers.DateField()


class StageDecisionSerializer(serializers.Serializer):
    """A gate decision on the initiative's open gate review: the same service and rules as
    the UI's gate page (criteria met or waived, separation of duties)."""

    initiative = ScopedPrimaryKeyRelatedField(scope="visible", queryset=Initiative.objects.all())
    decision = serializers.ChoiceField(
        choices=[c for c in StageTransition.Decision.choices if c[0] != "import"]
    )
    rationale = serializers.CharField(max_length=5000)
    to_stage = serializers.ChoiceField(choices=Stage.choices, required=False, allow_null=True)
    sunk_cost = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    sunk_cost_currency = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=3,
        help_text="Required with sunk_cost: the currency it is in (one of CURRENCIES)",
    )
    salvaged = serializers.CharField(required=False, allow_blank=True, default="")
    lessons = serializers.CharField(required=False, allow_blank=True, default="")
    waivers = serializers.DictField(
        child=WaiverSerializer(),
        required=False,
        default=dict,
        help_text="Standard id to {reason, expires_on}, for unmet mandatory criteria",
    )


class RiskAssessmentRecordSerializer(serializers.Serializer):
    """A new current assessment; earlier ones are superseded, the initiative takes the tier."""

    initiative = ScopedPrimaryKeyRelatedField(scope="visible", queryset=Initiative.objects.all())
    eu_tier = serializers.ChoiceField(choices=RiskTier.choices)
    us_high_impact = serializers.BooleanField(allow_null=True, required=False, default=None)
    us_justification = serializers.CharField(required=False, allow_blank=True, default="")
    next_review_due = serializers.DateField(required=False, allow_null=True, default=None)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class IncidentReportSerializer(serializers.Serializer):
    initiative = ScopedPrimaryKeyRelatedField(scope="visible", queryset=Initiative.objects.all())
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices)
    detected_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    escalation_level = serializers.IntegerField(min_value=1, max_value=10, default=1)
    escalation_path = serializers.CharField(required=False, allow_blank=True, default="")
    review_due = serializers.DateField(required=False, allow_null=True, default=None)


class IncidentProgressSerializer(serializers.Serializer):
    """Move an incident on; every change is appended to its timeline."""

    status = serializers.ChoiceField(choices=Incident.Status.choices, required=False)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices, required=False)
    escalation_level = serializers.IntegerField(min_value=1, max_value=10, required=False)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    review_summary = serializers.CharField(required=False, allow_blank=True)


class WaiverRegisterSerializer(serializers.ModelSerializer):
    """A waiver in the register: whose it is (``granted_by``, its owner), why, until
    when, who co-signed it, and whether it lapsed."""

    class Meta:
        model = Waiver
        fields = [
            "id",
            "initiative",
            "business_unit",
            "review",
            "standard",
            "reason",
            "expires_on",
            "granted_by",
            "granted_at",
            "co_signed_by",
            "co_signed_at",
            "lapsed_at",
            "updated_at",
        ]
        read_only_fields = fields


class WaiverProposeSerializer(serializers.Serializer):
    review = ScopedPrimaryKeyRelatedField(scope="visible", queryset=GateReview.objects.all())
    standard = serializers.PrimaryKeyRelatedField(queryset=Standard.objects.all())
    reason = serializers.CharField(max_length=2000)
    expires_on = serializers.DateField()


class ModelRollbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelRollback
        fields = [
            "id",
            "ai_system",
            "business_unit",
            "from_version",
            "to_version",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "updated_at",
        ]
        read_only_fields = fields


class ModelRollbackRequestSerializer(serializers.Serializer):
    ai_system = ScopedPrimaryKeyRelatedField(scope="visible", queryset=AISystem.objects.all())
    to_version = ScopedPrimaryKeyRelatedField(scope="visible", queryset=ModelVersion.objects.all())
    reason = serializers.CharField(max_length=5000)


class ModelRollbackDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class IncidentAcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
