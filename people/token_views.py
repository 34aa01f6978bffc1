"""A person's own API tokens: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from people.authentication import api_token_create, api_token_revoke
from people.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. 'ERP spend feed' or 'ML platform'."
    )
    read_only = forms.BooleanField(
        required=False, label="Read-only", help_text="It can read but never change anything."
    )


@login_required
def token_list(request):
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            token, secret = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
            )
            # Rendered, never redirected: the secret must not end up in a URL or a session.
            response = render(
                request, "people/tokens_created.html", {"token": token, "secret": secret}
            )
            response["Cache-Control"] = "no-store"
            return response
    else:
        form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    return render(request, "people/tokens.html", {"tokens": tokens, "form": form})


@login_required
@require_POST
def token_revoke(request, pk: int):
    # Someone else's token is a 404: they may not know it exists.
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    api_token_revoke(acting_user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
    return redirect("people:tokens")
