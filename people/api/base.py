"""The pieces every API viewset is built from, so none has to remember scoping.

Rules (documented in the schema description too):

- Reads go through ``Model.objects.visible_to(user)``: a record outside it is a 404,
  whether it exists or not.
- Writes: the record must also be in ``editable_by(user)``, otherwise 403 (you may see
  it but not change it: a viewer, an auditor, a read-only token). Creating needs some
  unit where you may edit (403 otherwise).
- Foreign keys in request bodies are checked against the caller's scope: a record the
  caller may not use is reported exactly like one that does not exist, as a 400 with
  a field error (``Invalid pk "7" - object does not exist.``), so the API never
  reveals other units' records.
- ``PUT``/``PATCH`` honour ``If-Match`` with the ``ETag`` of the detail response; a
  stale one is a 412. The write, the ETag check and the scope re-check run in one
  transaction with the row locked.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django_filters import rest_framework as filters
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from rest_framework import exceptions, pagination, permissions, serializers, throttling, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.settings import api_settings

from people.api.errors import PreconditionFailed
from people.audit import acting_as
from people.models import ApiToken
from people.scoping import has_global, unit_ids_for

UNSAFE_ACTIONS = {"update", "partial_update", "destroy"}


class Pagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class TokenReadOnlyPermission(permissions.BasePermission):
    """A read-only token may only read."""

    message = "This token is read-only."

    def has_permission(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken) and token.read_only:
            return request.method in permissions.SAFE_METHODS
        return True


class ScopedWritePermission(permissions.BasePermission):
    """Create needs somewhere to write; update/delete need the record in ``editable_by``."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        if getattr(view, "action", None) == "create" and not view.can_write_any(request.user):
            self.message = "You may not create these records."
            return False
        return True

    def has_object_permission(self, request, view, obj):
        if getattr(view, "action", None) not in UNSAFE_ACTIONS:
            return True  # custom actions are checked by the service they call
        if not view.editable_queryset().filter(pk=obj.pk).exists():
            self.message = "You may view this record but not change it."
            return False
        return True


class WriteRateThrottle(throttling.SimpleRateThrottle):
    """Writes per user, across all their tokens and sessions (a new token does not reset
    the count); reads are not limited."""

    scope = "api_write"

    def get_rate(self):
        # Read at request time, so a settings change (or a test) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return None
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def etag_for(instance) -> str:
    stamp = getattr(instance, "updated_at", None)
    return f'"{instance.pk}-{int(stamp.timestamp() * 1_000_000) if stamp else 0}"'


def check_if_match(request, instance) -> None:
    header = request.headers.get("If-Match")
    if not header:
        return
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in wanted or etag_for(instance) in wanted:
        return
    raise PreconditionFailed()


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key whose choices are what the caller may edit (or, with
    ``scope="visible"``, see). Out-of-scope ids read as nonexistent."""

    def __init__(self, scope: str = "editable", **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if not hasattr(queryset, "visible_to"):
            return queryset
        return queryset.editable_by(user) if self.scope == "editable" else queryset.visible_to(user)


class ScopedModelSerializer(serializers.ModelSerializer):
    """Checks the model's constraints before writing (clear field errors instead of an
    IntegrityError) and derives ``business_unit`` from the initiative it belongs to."""

    serializer_related_field = ScopedPrimaryKeyRelatedField
    #: The foreign key the row takes its unit from (None: the row names its unit).
    unit_from: str | None = "initiative"

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        if self.unit_from and attrs.get(self.unit_from) is not None:
            attrs["business_unit"] = attrs[self.unit_from].business_unit
        candidate = model(
            **{
                f.attname: getattr(self.instance, f.attname)
                for f in model._meta.concrete_fields
                if self.instance is not None
            }
        )
        for name, value in attrs.items():
            field = model._meta.get_field(name)
            if not field.many_to_many:
                setattr(candidate, name, value)
        if self.instance is not None:
            # The row being edited: unique checks exclude it (as Django's own
            # validate_constraints does for a saved instance).
            candidate._state.adding = False
        try:
            # The model's own rules first (field errors), then its constraints: the API
            # refuses what the web form and the admin refuse.
            candidate.clean()
            candidate.validate_constraints()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return attrs


class ForeignKeyAsNumberFilterSet(filters.FilterSet):
    """Filters on foreign keys take an id without checking it exists, so a filter can
    not be used to probe another unit's ids (the list is scoped anyway)."""

    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        models.ForeignKey: {"filter_class": filters.NumberFilter},
        models.OneToOneField: {"filter_class": filters.NumberFilter},
    }


class FilterBackend(filters.DjangoFilterBackend):
    filterset_base = ForeignKeyAsNumberFilterSet


class ScopedViewSetMixin:
    """Base for every scoped resource: reads through ``visible_to``, writes through
    ``editable_by``, ETags on details, If-Match on updates, one transaction per write."""

    permission_classes = [
        permissions.IsAuthenticated,
        TokenReadOnlyPermission,
        ScopedWritePermission,
    ]
    throttle_classes = [WriteRateThrottle]
    pagination_class = Pagination
    filter_backends = [FilterBackend, OrderingFilter]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    #: Serializer for the list action (sparse); defaults to ``serializer_class``.
    list_serializer_class: type[serializers.Serializer] | None = None
    #: Input serializer for create when a service does the write; the response is
    #: always rendered with ``serializer_class``.
    create_serializer_class: type[serializers.Serializer] | None = None
    filter_backends = [FilterBackend, OrderingFilter]

    # --- scoping ------------------------------------------------------------------
    def base_queryset(self):
        return self.queryset.all()

    def get_queryset(self):
        return self.base_queryset().visible_to(self.request.user)

    def editable_queryset(self):
        return self.queryset.model.objects.editable_by(self.request.user)

    def can_write_any(self, user) -> bool:
        opts = self.queryset.model._meta
        return has_global(user, f"{opts.app_label}.change_{opts.model_name}") or bool(
            unit_ids_for(user, "change")
        )

    def get_serializer_class(self):
        if self.action == "list" and self.list_serializer_class is not None:
            return self.list_serializer_class
        if self.action == "create" and self.create_serializer_class is not None:
            return self.create_serializer_class
        return super().get_serializer_class()

    # --- writes -------------------------------------------------------------------
    def _recheck_scope(self, instance, *, editable: bool = True) -> None:
        """Inside the write's transaction: the record is still the caller's to change.
        (A service-backed create already applied the service's own rule, which may let
        a global role such as the CoE write where it cannot edit: it must stay visible.)"""
        allowed = self.editable_queryset() if editable else self.get_queryset()
        if not allowed.filter(pk=instance.pk).exists():
            raise exceptions.PermissionDenied("The change would put the record outside your scope.")

    def render_one(self, instance, status: int = 200) -> Response:
        data = self.serializer_class(instance, context=self.get_serializer_context()).data
        response = Response(data, status=status)
        response["ETag"] = etag_for(instance)
        return response


class ScopedViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    def retrieve(self, request, *args, **kwargs):
        return self.render_one(self.get_object())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic(), acting_as(request.user):
            instance = self.perform_create(serializer)
            instance = instance if instance is not None else serializer.instance
            self._recheck_scope(instance, editable=self.create_serializer_class is None)
        return self.render_one(self.get_queryset().get(pk=instance.pk), status=201)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        with transaction.atomic(), acting_as(request.user):
            instance = self.get_object()
            locked = type(instance).objects.select_for_update().get(pk=instance.pk)
            check_if_match(request, locked)
            serializer = self.get_serializer(locked, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            self.perform_update(serializer)
            self._recheck_scope(serializer.instance)
        return self.render_one(self.get_queryset().get(pk=serializer.instance.pk))

    def perform_destroy(self, instance):
        with transaction.atomic(), acting_as(self.request.user):
            instance.delete()


class ReadOnlyScopedViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and retrieve (plus any custom actions the subclass adds)."""

    http_method_names = ["get", "head", "options"]

    def retrieve(self, request, *args, **kwargs):
        return self.render_one(self.get_object())
