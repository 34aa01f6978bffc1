"""The playbook's vocabulary (DESIGN.md section 2), shared by all apps above people."""

from django.db import models


class Stage(models.TextChoices):
    PROOF_OF_CONCEPT = "proof_of_concept", "Proof of concept"
    INITIAL_PRODUCTION = "initial_production", "Initial production"
    SCALED_DEPLOYMENT = "scaled_deployment", "Scaled deployment"
    INSTITUTIONAL = "institutional", "Institutional"
    RETIRED = "retired", "Retired"
    KILLED = "killed", "Killed"
    # Imported inventories may not say; a blank is never guessed.
    UNKNOWN = "unknown", "Stage unknown"


ACTIVE_STAGES = (
    Stage.PROOF_OF_CONCEPT,
    Stage.INITIAL_PRODUCTION,
    Stage.SCALED_DEPLOYMENT,
    Stage.INSTITUTIONAL,
)
END_STAGES = (Stage.RETIRED, Stage.KILLED)
STAGE_ORDER = {stage: i for i, stage in enumerate(ACTIVE_STAGES)}

# Typical months in each stage (the playbook: 0-6, 6-18, 18-36, 36+).
DEFAULT_STAGE_LIMIT_DAYS = {
    Stage.PROOF_OF_CONCEPT: 183,
    Stage.INITIAL_PRODUCTION: 365,
    Stage.SCALED_DEPLOYMENT: 548,
}


class Dimension(models.TextChoices):
    STRATEGIC_ALIGNMENT = "strategic_alignment", "Strategic alignment"
    INFRASTRUCTURE = "infrastructure", "Infrastructure"
    SECURITY_GOVERNANCE = "security_governance", "Security and governance"
    CULTURE_ADOPTION = "culture_adoption", "Culture and adoption"
    FINANCIAL_MODEL = "financial_model", "Financial model"
    MEASUREMENT = "measurement", "Measurement"
    ORGANISATIONAL_STRUCTURE = "organisational_structure", "Organisational structure"
    INTEGRATION_DEPTH = "integration_depth", "Integration depth"


class RiskTier(models.TextChoices):
    """EU AI Act tiers."""

    PROHIBITED = "prohibited", "Prohibited"
    HIGH = "high", "High"
    LIMITED = "limited", "Limited"
    MINIMAL = "minimal", "Minimal"
    UNASSESSED = "unassessed", "Not yet assessed"


class IntegrationDepth(models.TextChoices):
    STANDALONE = "standalone", "Standalone tool"
    ON_REQUEST = "on_request", "On request"
    EMBEDDED = "embedded", "Embedded in workflow"
    AUTOMATED = "automated", "Automated action"
