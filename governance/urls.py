from django.urls import path

from governance import (
    access_views,
    audit_views,
    gate_views,
    inventory_views,
    views,
    waiver_views,
)

app_name = "governance"

urlpatterns: list = [
    path("", views.index, name="index"),
    # Stage gates
    path("gates/", gate_views.gate_review_list, name="gate_review_list"),
    path("gates/initiative/<int:initiative_pk>/", gate_views.gate, name="gate"),
    path("gates/<int:pk>/", gate_views.gate_review_detail, name="gate_review_detail"),
    path("gates/<int:pk>/evidence/", gate_views.gate_evidence, name="gate_evidence"),
    path("gates/<int:pk>/recheck/", gate_views.gate_recheck, name="gate_recheck"),
    path("gates/<int:pk>/withdraw/", gate_views.gate_withdraw, name="gate_withdraw"),
    path("gates/<int:pk>/decide/", gate_views.gate_decide, name="gate_decide"),
    path("stalled/", views.stalled_list, name="stalled_list"),
    path(
        "stalled/<int:initiative_pk>/review/",
        gate_views.gate_stall_review,
        name="gate_stall_review",
    ),
    path("standards/", views.standard_list, name="standard_list"),
    path("waivers/", waiver_views.waiver_list, name="waiver_list"),
    path("waivers/<int:pk>/cosign/", waiver_views.waiver_cosign, name="waiver_cosign"),
    # Registers
    path("systems/", views.ai_system_list, name="ai_system_list"),
    path("systems/new/", views.ai_system_edit, name="ai_system_create"),
    path("systems/<int:pk>/", views.ai_system_detail, name="ai_system_detail"),
    path("systems/<int:pk>/edit/", views.ai_system_edit, name="ai_system_edit"),
    path("models/", views.model_version_list, name="model_version_list"),
    path("models/new/", views.model_version_edit, name="model_version_create"),
    path("models/<int:pk>/", views.model_version_detail, name="model_version_detail"),
    path("models/<int:pk>/edit/", views.model_version_edit, name="model_version_edit"),
    path("models/<int:pk>/promote/", views.model_version_promote, name="model_version_promote"),
    path("risk/", views.risk_assessment_list, name="risk_assessment_list"),
    path("risk/new/", views.risk_assessment_create, name="risk_assessment_create"),
    path("risk/<int:pk>/", views.risk_assessment_detail, name="risk_assessment_detail"),
    path("controls/", views.attestation_list, name="attestation_list"),
    path("controls/new/", views.attestation_edit, name="attestation_create"),
    path("controls/<int:pk>/", views.attestation_detail, name="attestation_detail"),
    path("controls/<int:pk>/edit/", views.attestation_edit, name="attestation_edit"),
    path("fairness/", views.fairness_audit_list, name="fairness_audit_list"),
    path("fairness/new/", views.fairness_audit_edit, name="fairness_audit_create"),
    path("fairness/<int:pk>/", views.fairness_audit_detail, name="fairness_audit_detail"),
    path("fairness/<int:pk>/edit/", views.fairness_audit_edit, name="fairness_audit_edit"),
    path("explainability/", views.explainability_list, name="explainability_list"),
    path("explainability/new/", views.explainability_edit, name="explainability_create"),
    path("explainability/<int:pk>/", views.explainability_detail, name="explainability_detail"),
    path("explainability/<int:pk>/edit/", views.explainability_edit, name="explainability_edit"),
    path("incidents/", views.incident_list, name="incident_list"),
    path("incidents/new/", views.incident_create, name="incident_create"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident_detail"),
    path("incidents/<int:pk>/update/", views.incident_update, name="incident_update"),
    path(
        "incidents/<int:pk>/acknowledge/",
        views.incident_acknowledge,
        name="incident_acknowledge",
    ),
    path("access-reviews/", access_views.access_review_list, name="access_review_list"),
    path("access-reviews/new/", access_views.access_review_create, name="access_review_create"),
    path(
        "access-reviews/<int:pk>/", access_views.access_review_detail, name="access_review_detail"
    ),
    path(
        "access-reviews/<int:pk>/items/<int:item_pk>/decide/",
        access_views.access_review_item_decide,
        name="access_review_item_decide",
    ),
    path(
        "access-reviews/<int:pk>/close/",
        access_views.access_review_close,
        name="access_review_close",
    ),
    # Audit trail
    path("audit/", audit_views.audit_log, name="audit_log"),
    path("history/<str:label>/<int:pk>/", audit_views.record_history, name="record_history"),
]

urlpatterns += [
    path("inventory/import/", inventory_views.inventory_import_view, name="inventory_import"),
    path("inventory/export/", inventory_views.inventory_export_view, name="inventory_export"),
]
