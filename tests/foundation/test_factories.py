"""A factory for every model of ours (audit events and guardian rows aside), and each one
builds a valid row."""

import factory
import pytest
from django.apps import apps

from tests import factories

pytestmark = pytest.mark.django_db

FACTORIES = {
    cls._meta.model: cls
    for cls in vars(factories).values()
    if isinstance(cls, type)
    and issubclass(cls, factory.django.DjangoModelFactory)
    and not cls._meta.abstract
}
MODELS = sorted(
    (
        m
        for m in apps.get_models()
        if m._meta.app_label in ("people", "portfolio", "finance", "governance")
        and not m._meta.label.endswith("Event")
        and "ObjectPermission" not in m.__name__
    ),
    key=lambda m: m._meta.label,
)


def test_every_model_has_a_factory():
    missing = [m._meta.label for m in MODELS if m not in FACTORIES]
    assert not missing, missing


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m in FACTORIES], ids=lambda m: m._meta.label
)
def test_factory_builds_a_valid_row(model):
    row = FACTORIES[model]()
    row.full_clean(validate_unique=False, validate_constraints=True)
    assert model.objects.filter(pk=row.pk).exists()
