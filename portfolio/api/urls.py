"""The REST API, versioned under /api/v1/. Each app registers its viewsets here."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
