"""Domain errors that views and serializers turn into clear messages."""

from django.core.exceptions import PermissionDenied, ValidationError

__all__ = ["PermissionDenied", "SeparationOfDutiesError", "ValidationError"]


class SeparationOfDutiesError(PermissionDenied):
    """The same person may not both ask for something and approve it."""
