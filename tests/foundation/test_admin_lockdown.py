"""Issue 12: the Django admin undid the services' rules. Each example of the issue is
tried again here and must now do no harm; meta-tests cover every registered ModelAdmin.

- unit roles get nothing from the admin, even when an old account is still staff;
- fields services own are read-only for everyone, superusers included;
- governed records are never hard-deleted through the admin;
- filters offer only values of rows the user can see;
- the notifications admin is for superusers, read-only.
"""

from __future__ import annotations

import importlib
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from finance.models import Budget, SpendEntry
from governance.models import AccessReviewItem, ModelVersion
from people.errors import SeparationOfDutiesError
from people.models import ApiToken, Notification
from people.roles import PMO
from tests.admin_forms import change_url, post_change
from tests.factories import (
    AccessReviewFactory,
    AccessReviewItemFactory,
    AISystemFactory,
    BudgetFactory,
    ModelVersionFactory,
    SpendEntryFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

OUR_APPS = ("people", "portfolio", "finance", "governance")
REGISTERED = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in OUR_APPS
]


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_lead_a(lead_a):
    """A lead whose account is still flagged staff (as every demo lead was)."""
    lead_a.is_staff = True
    lead_a.save()
    return lead_a


@pytest.fixture
def approved_budget(initiative_a, lead_a, finance):
    return BudgetFactory(
        initiative=initiative_a,
        requested_by=lead_a,
        approved_by=finance,
        status=Budget.Status.APPROVED,
        amount=D("170000.00"),
    )


# --- Unit roles are not admins ----------------------------------------------------------


def test_unit_lead_fixture_is_not_staff(lead_a, lead_b, member_a):
    assert not (lead_a.is_staff or lead_b.is_staff or member_a.is_staff)


def test_a_lead_still_flagged_staff_sees_no_app_in_the_admin(client, staff_lead_a, initiative_a):
    client.force_login(staff_lead_a)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert index.context["app_list"] == []
    for model, _ in REGISTERED:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(url).status_code == 403, url


def test_lead_cannot_change_created_by_then_promote_their_own_version(
    client, staff_lead_a, root, initiative_a, lead_b
):
    version = ModelVersionFactory(
        ai_system=AISystemFactory(initiative=initiative_a), created_by=staff_lead_a
    )
    client.force_login(staff_lead_a)
    assert post_change(client, version, created_by=lead_b.pk).status_code == 403
    # Nor can an administrator relabel the creator: the field is read-only.
    client.force_login(root)
    response = post_change(client, version, created_by=lead_b.pk, status="production")
    assert response.status_code == 302, response.content[:2000]
    version.refresh_from_db()
    assert version.created_by_id == staff_lead_a.pk
    assert version.status == ModelVersion.Status.DEVELOPMENT
    from governance.services import model_version_promote

    with pytest.raises(SeparationOfDutiesError):
        model_version_promote(acting_user=staff_lead_a, model_version=version)


def test_approved_budget_amount_cannot_be_changed_in_the_admin(
    client, root, staff_lead_a, approved_budget
):
    client.force_login(staff_lead_a)
    assert post_change(client, approved_budget, amount="99999999").status_code == 403
    client.force_login(root)
    post_change(client, approved_budget, amount="99999999", status="approved")
    approved_budget.refresh_from_db()
    assert approved_budget.amount == D("170000.00")


def test_approved_budget_and_imported_posting_cannot_be_deleted(
    client, root, staff_lead_a, finance, approved_budget, initiative_a
):
    posting = SpendEntryFactory(initiative=initiative_a, source="erp")
    finance.is_staff = True
    finance.save()
    for user in (staff_lead_a, finance, root):
        client.force_login(user)
        for obj in (approved_budget, posting):
            opts = obj._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk])
            assert client.post(url, {"post": "yes"}).status_code == 403, (user, url)
        changelist = reverse("admin:finance_budget_changelist")
        client.post(
            changelist,
            {"action": "delete_selected", "_selected_action": [approved_budget.pk], "post": "yes"},
        )
    assert Budget.objects.filter(pk=approved_budget.pk).exists()
    assert SpendEntry.objects.filter(pk=posting.pk).exists()


def test_access_review_item_user_cannot_be_relabelled(client, root, staff_lead_a, unit_a, lead_b):
    review = AccessReviewFactory(business_unit=unit_a, reviewer=staff_lead_a)
    item = AccessReviewItemFactory(review=review, user=lead_b)
    client.force_login(staff_lead_a)
    assert post_change(client, item, user=staff_lead_a.pk).status_code == 403
    client.force_login(root)
    post_change(client, item, user=staff_lead_a.pk, decision="keep")
    item.refresh_from_db()
    assert (item.user_id, item.decision) == (lead_b.pk, AccessReviewItem.Decision.PENDING)


def test_pmo_cannot_give_its_api_token_to_finance(client, pmo, finance):
    from people.authentication import api_token_create

    pmo.is_staff = True
    pmo.save()
    token, _ = api_token_create(user=pmo, name="pmo script")
    client.force_login(pmo)
    post_change(client, token, user=finance.pk, revoked_at="")
    token.refresh_from_db()
    assert token.user_id == pmo.pk
    # An administrator may still revoke it (the record stays).
    client.post(
        reverse("admin:people_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None and ApiToken.objects.filter(pk=token.pk).exists()


def test_notifications_admin_is_for_superusers_and_read_only(client, finance, coe, root, pmo):
    note = Notification.objects.create(user=pmo, kind="k", finding_key="f", period="p", title="t")
    for user in (finance, coe, pmo):
        user.is_staff = True
        user.save()
        client.force_login(user)
        assert client.get(reverse("admin:people_notification_changelist")).status_code == 403
        assert client.get(change_url(note)).status_code == 403
    client.force_login(root)
    assert client.get(reverse("admin:people_notification_changelist")).status_code == 200
    post_change(client, note, title="forged")
    note.refresh_from_db()
    assert note.title == "t"


def test_creator_is_the_signed_in_admin_on_an_add_form(client, root, initiative_a, lead_b):
    system = AISystemFactory(initiative=initiative_a)
    client.force_login(root)
    response = client.post(
        reverse("admin:governance_modelversion_add"),
        {
            "ai_system": system.pk,
            "version": "9.9",
            "parameters": "{}",
            "metrics": "{}",
            "created_by": lead_b.pk,
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert ModelVersion.objects.get(version="9.9").created_by_id == root.pk


def test_deleting_a_membership_in_the_admin_revokes_the_permissions(
    client, root, lead_a, initiative_a
):
    from portfolio.models import Initiative

    membership = lead_a.unit_memberships.get()
    client.force_login(root)
    url = reverse("admin:people_unitmembership_delete", args=[membership.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    fresh = type(lead_a).objects.get(pk=lead_a.pk)
    assert not Initiative.objects.visible_to(fresh).exists()


# --- Scoped filters -----------------------------------------------------------------------


def test_unit_filter_lists_only_units_of_visible_rows(
    client, pmo, initiative_a, initiative_a_child, unit_b
):
    pmo.is_staff = True
    pmo.save()
    client.force_login(pmo)
    page = client.get(reverse("admin:portfolio_initiative_changelist"))
    assert page.status_code == 200
    unit_filter = next(
        f
        for f in page.context["cl"].filter_specs
        if getattr(f, "field_path", "") == "business_unit"
    )
    names = {c["display"] for c in unit_filter.choices(page.context["cl"])}
    assert {"Retail Banking", "Cards"} <= names and unit_b.name not in names


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=lambda x: str(x))
def test_every_foreign_key_filter_is_limited_to_visible_rows(model, model_admin, root):
    request = RequestFactory().get("/")
    request.user = root
    for item in model_admin.get_list_filter(request):
        name = item if isinstance(item, str) else item[0]
        if "__" in name:
            continue
        field = model._meta.get_field(name)
        if field.is_relation and field.many_to_one:
            assert not isinstance(item, str) and item[1] is admin.RelatedOnlyFieldListFilter


# --- Meta-tests over every registered ModelAdmin ------------------------------------------

#: Service-owned fields beyond the generic "*_by user, status, decision, denormalised unit".
EXTRA_OWNED = {
    "people.ApiToken": {"user", "key_hash", "revoked_at", "read_only"},
    "people.UnitMembership": {"user", "business_unit", "role"},
    "finance.Budget": {"amount", "initiative", "fiscal_year", "kind", "category", "amends"},
    "finance.SpendEntry": {"amount", "initiative", "source", "reference", "import_batch"},
    "governance.ModelVersion": {"approved_by", "deployed_at"},
    "governance.AccessReviewItem": {"user", "review", "membership", "role"},
    "governance.ControlAttestation": {"attested_on", "expires_on"},
    "governance.GateReview": {"transition", "rationale"},
    "governance.Waiver": {"granted_at", "standard", "initiative"},
    "portfolio.Initiative": {"stage", "stage_entered_at", "risk_tier"},
    "portfolio.Measurement": {"value", "kpi"},
}
#: Audited models the admin may delete, and why.
DELETABLE = {
    "people.UnitMembership",  # through membership_revoke, so the permissions follow
    "portfolio.Assignment",  # the app removes owners too (the owners form)
}


def _expected_owned(model) -> set[str]:
    names = set(EXTRA_OWNED.get(model._meta.label, ()))
    fields = {f.name: f for f in model._meta.concrete_fields}
    for name, field in fields.items():
        if name in ("status", "decision"):
            names.add(name)
        if (
            field.is_relation
            and name.endswith("_by")
            and field.related_model._meta.label == settings.AUTH_USER_MODEL
        ):
            names.add(name)
    if "business_unit" in fields and {"initiative", "kpi", "ai_system", "review"} & set(fields):
        names.add("business_unit")
    return names


def _sample(model):
    """An unsaved instance, enough for the admin's per-object hooks."""
    return model()


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=lambda x: str(x))
def test_service_owned_fields_are_read_only_for_a_superuser(model, model_admin, root):
    request = RequestFactory().get("/")
    request.user = root
    obj = _sample(model)
    obj.pk = 1
    if not model_admin.has_change_permission(request, obj):
        return  # nothing is editable at all
    readonly = set(model_admin.get_readonly_fields(request, obj))
    form_fields = set(model_admin.get_form(request, obj).base_fields)
    writable = form_fields - readonly
    leaked = _expected_owned(model) & writable
    assert not leaked, f"{model._meta.label}: {sorted(leaked)} writable in the admin"


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=lambda x: str(x))
def test_service_owned_fields_are_read_only_in_every_inline(model, model_admin, root):
    request = RequestFactory().get("/")
    request.user = root
    for inline in model_admin.get_inline_instances(request, None):
        if not inline.has_change_permission(request, None) and not inline.has_add_permission(
            request, None
        ):
            continue
        writable = set(inline.get_formset(request, None).form.base_fields) - set(
            inline.get_readonly_fields(request, None)
        )
        owned = _expected_owned(inline.model) - {"business_unit"}  # set on save
        assert not (owned & writable), (inline, owned & writable)


def _audited(model) -> bool:
    return any(
        m._meta.label == f"{model._meta.app_label}.{model.__name__}Event"
        for m in apps.get_app_config(model._meta.app_label).get_models()
    )


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=lambda x: str(x))
def test_governed_records_are_never_hard_deleted_in_the_admin(model, model_admin, root):
    request = RequestFactory().get("/")
    request.user = root
    if _audited(model) and model._meta.label not in DELETABLE:
        assert not model_admin.has_delete_permission(request, None), model._meta.label
        for inline in model_admin.get_inline_instances(request, None):
            if _audited(inline.model) and inline.model._meta.label not in DELETABLE:
                assert not inline.can_delete or not inline.has_delete_permission(request, None)


def test_global_role_groups_do_not_make_anyone_staff_but_unit_roles_lose_it():
    """The data migration: unit roles without a global role stop being staff."""
    migration = importlib.import_module("people.migrations.0007_unit_roles_are_not_staff")
    from django.contrib.auth.models import Group

    from people.models import UnitMembership
    from tests.factories import BusinessUnitFactory

    unit = BusinessUnitFactory()
    lead = UserFactory(username="old-lead", is_staff=True)
    UnitMembership.objects.create(user=lead, business_unit=unit, role="lead")
    pmo_and_member = UserFactory(username="pmo-member", is_staff=True)
    pmo_and_member.groups.add(Group.objects.get(name=PMO))
    UnitMembership.objects.create(user=pmo_and_member, business_unit=unit, role="member")
    plain_staff = UserFactory(username="ops", is_staff=True)
    migration.unit_roles_are_not_staff(apps, None)
    lead.refresh_from_db()
    pmo_and_member.refresh_from_db()
    plain_staff.refresh_from_db()
    assert (lead.is_staff, pmo_and_member.is_staff, plain_staff.is_staff) == (False, True, True)


# Tables the database keeps from other rows (trigger-maintained): a hand edit in the admin
# would make them disagree with the rows they are computed from.
DERIVED = [
    "finance.SpendUnitMonth",
    "finance.SpendInitiativeMonth",
    "finance.SpendInitiativeYear",
    "finance.SpendStageMonth",
    "finance.BudgetUnitYear",
    "finance.ValueSegment",
    "finance.ValueUnitStep",
    "finance.ValueUnitMissing",
    "finance.VarianceMonth",
    "portfolio.KPIPeriodValue",
    "portfolio.InitiativeFacts",
    "portfolio.FlowCohort",
    "portfolio.FlowStay",
]


@pytest.mark.parametrize("label", DERIVED)
def test_a_derived_table_is_read_only_in_the_admin_even_for_a_superuser(label, root):
    from people.admin import DerivedAdmin

    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    assert isinstance(model_admin, DerivedAdmin)
    request = RequestFactory().get("/")
    request.user = root
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_every_trigger_kept_model_is_listed_as_derived():
    """The models registered with a DerivedAdmin are exactly the list above, so a new
    derived table is added to both (and so gets the test above)."""
    from people.admin import DerivedAdmin

    registered = sorted(
        m._meta.label for m, a in admin.site._registry.items() if isinstance(a, DerivedAdmin)
    )
    assert registered == sorted(DERIVED)
