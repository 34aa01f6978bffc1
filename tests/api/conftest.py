"""API clients for the cast, and a token helper."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from people.authentication import api_token_create


@pytest.fixture
def api():
    """``api(user)``: a client authenticated as ``user`` (None: anonymous)."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def token_client():
    """``token_client(user, read_only=False)``: a client sending a real token header."""

    def make(user, read_only=False):
        _, secret = api_token_create(user=user, name="test", read_only=read_only)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return client

    return make
