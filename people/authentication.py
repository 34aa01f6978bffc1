"""API tokens for machines: ``Authorization: Token <secret>``.

Only the SHA-256 of a secret is stored (``ApiToken.key_hash``, unique and indexed), so
a leaked database does not leak working tokens, and a lookup is one indexed query.
Secrets carry 256 bits of randomness, so an unsalted fast hash is enough (the same
reasoning as GitHub's and Django REST Knox's token hashes). The ``prefix`` is the part
people see in the UI and in logs to tell their tokens apart.

A revoked token, or a token of an inactive user, is refused with 401. A read-only
token authenticates, and ``TokenReadOnlyPermission`` (in the API layer) refuses its
unsafe methods with 403.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from people.models import ApiToken

SECRET_PREFIX = "aip"
#: ``last_used_at`` is written at most this often per token (one UPDATE, not one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str, read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns it and its secret, which is never stored and
    cannot be shown again."""
    prefix = secrets.token_hex(4)
    secret = f"{SECRET_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name.strip() or "API token",
        prefix=prefix,
        key_hash=hash_secret(secret),
        read_only=read_only,
    )
    return token, secret


def api_token_revoke(*, acting_user, token: ApiToken) -> ApiToken:
    """Revoke one of ``acting_user``'s own tokens (idempotent)."""
    if token.user_id != acting_user.pk:
        raise exceptions.PermissionDenied("You can only revoke your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Token <secret>'.")
        try:
            secret = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        return self.authenticate_credentials(secret)

    def authenticate_credentials(self, secret: str):
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The token has been revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
