"""Tokens: hashed at rest, revocable, read-only; the token pages; error shape on auth."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from people.authentication import api_token_create
from people.models import ApiToken
from portfolio.models import Initiative

pytestmark = pytest.mark.django_db


def test_token_is_stored_as_a_sha256_hash_never_in_clear(lead_a):
    token, secret = api_token_create(user=lead_a, name="erp")
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.key_hash, token.prefix, token.name}
    assert token.prefix in secret


def test_token_authenticates_as_its_user_and_records_last_use(lead_a, initiative_a, token_client):
    client = token_client(lead_a)
    response = client.get(reverse("v1:initiative-detail", args=[initiative_a.pk]))
    assert response.status_code == 200
    assert ApiToken.objects.get(user=lead_a).last_used_at is not None


def test_revoked_token_gets_401_with_the_error_shape(lead_a, initiative_a):
    token, secret = api_token_create(user=lead_a, name="erp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    token.revoked_at = token.created_at
    token.save()
    response = client.get(reverse("v1:initiative-list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "code": "authentication_failed",
        "message": "The token has been revoked.",
        "fields": {},
    }


def test_unknown_token_and_no_credentials_get_401(db):
    client = APIClient()
    assert client.get(reverse("v1:initiative-list")).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token aip_nope_nope")
    assert client.get(reverse("v1:initiative-list")).json()["code"] == "authentication_failed"


def test_read_only_token_reads_but_cannot_write(lead_a, unit_a, initiative_a, token_client):
    client = token_client(lead_a, read_only=True)
    assert client.get(reverse("v1:initiative-detail", args=[initiative_a.pk])).status_code == 200
    response = client.patch(
        reverse("v1:initiative-detail", args=[initiative_a.pk]), {"name": "x"}, format="json"
    )
    assert response.status_code == 403
    assert Initiative.objects.get(pk=initiative_a.pk).name == "Claims triage"


def test_token_of_inactive_user_gets_401(lead_a, token_client):
    client = token_client(lead_a)
    lead_a.is_active = False
    lead_a.save()
    assert client.get(reverse("v1:initiative-list")).status_code == 401


def test_user_creates_a_token_sees_the_secret_once_and_revokes_it(client, lead_a):
    client.force_login(lead_a)
    response = client.post(reverse("people:tokens"), {"name": "ML platform", "read_only": "on"})
    assert response.status_code == 200
    secret = response.context["secret"]
    token = ApiToken.objects.get(user=lead_a)
    assert token.read_only and token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    listing = client.get(reverse("people:tokens")).content.decode()
    assert "ML platform" in listing and secret not in listing
    client.post(reverse("people:token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_user_cannot_revoke_someone_elses_token(client, lead_a, lead_b):
    token, _ = api_token_create(user=lead_a, name="erp")
    client.force_login(lead_b)
    assert client.post(reverse("people:token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_page_needs_a_name(client, lead_a):
    client.force_login(lead_a)
    response = client.post(reverse("people:tokens"), {"name": ""})
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert not ApiToken.objects.filter(user=lead_a).exists()
