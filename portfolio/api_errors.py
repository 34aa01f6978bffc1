"""One JSON shape for every API error: ``{"code", "message", "fields"}``.

Clients branch on ``code`` (stable, snake_case), show ``message`` to people, and map
``fields`` (field name -> list of messages; rows of a bulk request appear as
``rows.<index>.<field>``) onto their form. Service errors (Django's
``ValidationError`` and ``PermissionDenied``) get the same shape as DRF's own, so a
rule enforced in a service reads the same through the UI and the API.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from people.api.errors import Conflict, PreconditionFailed
from people.errors import SeparationOfDutiesError

__all__ = ["Conflict", "PreconditionFailed", "api_exception_handler"]

NON_FIELD = "non_field_errors"


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"field": [...], "rows.3.amount": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            for index, item in enumerate(detail):
                if item:
                    out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        else:
            out[prefix or NON_FIELD] = [str(item) for item in detail]
    else:
        out[prefix or NON_FIELD] = [str(detail)]
    return out


def _convert(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=as_serializer_error(exc))
    if isinstance(exc, SeparationOfDutiesError):
        return exceptions.PermissionDenied(str(exc), code="separation_of_duties")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, IntegrityError):
        # Constraints are validated before writing; this is the race between two writers.
        return Conflict()
    if isinstance(exc, DataError):
        return exceptions.ValidationError("A value is out of range for its field.")
    return exc


def _first_code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    while isinstance(codes, dict | list):
        if not codes:
            return exc.default_code
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    exc = _convert(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django report the 500
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        non_field = fields.get(NON_FIELD)
        message = non_field[0] if non_field else "Some fields are not valid; see fields."
        code = "invalid"
    else:
        fields = {}
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail
        code = _first_code(exc)
    response.data = {"code": code, "message": str(message), "fields": fields}
    return response
