"""The inbox: a person's own notifications, marked read one by one or all at once, each
linking to its record; and the email-or-in-app preference.

Every lookup is filtered by ``user=request.user``: someone else's notification is a 404,
never a 403 (they may not know it exists).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from people.models import Notification, NotificationPreference
from people.notifications import (
    notification_mark_read,
    notification_preference_set,
    notifications_mark_all_read,
)
from people.roles import PMO

PAGE_SIZE = 50


class PreferenceForm(forms.Form):
    email_frequency = forms.ChoiceField(
        choices=NotificationPreference.EmailFrequency.choices,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
        label="How often should we email you?",
    )


def _preference(user) -> str:
    pref = NotificationPreference.objects.filter(user=user).values_list(
        "email_frequency", flat=True
    )
    return pref.first() or NotificationPreference.EmailFrequency.WEEKLY


@login_required
@require_GET
def inbox(request):
    show = request.GET.get("show", "unread")
    items = Notification.objects.filter(user=request.user).only(
        "pk", "kind", "title", "body", "url", "period", "created_at", "read_at"
    )
    if show != "all":
        show = "unread"
        items = items.filter(read_at__isnull=True)
    page = Paginator(items.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "people/inbox.html",
        {
            "page_obj": page,
            "show": show,
            "preference_form": PreferenceForm(
                initial={"email_frequency": _preference(request.user)}
            ),
            "is_pmo": request.user.is_superuser or request.user.groups.filter(name=PMO).exists(),
        },
    )


def _own(request, pk: int) -> Notification:
    try:
        return notification_mark_read(acting_user=request.user, notification_id=pk)
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None


def _back(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("people:inbox")


@login_required
@require_POST
def inbox_mark_read(request, pk: int):
    _own(request, pk)
    return _back(request)


@login_required
@require_POST
def inbox_mark_all_read(request):
    count = notifications_mark_all_read(acting_user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return _back(request)


@login_required
@require_GET
def inbox_open(request, pk: int):
    """Follow a notification's link to its record, marking it read on the way."""
    item = _own(request, pk)
    if item.url and url_has_allowed_host_and_scheme(
        item.url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(item.url)
    return redirect("people:inbox")


@login_required
def inbox_preferences(request):
    """The notification settings page: how often to be emailed."""
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            notification_preference_set(
                acting_user=request.user, email_frequency=form.cleaned_data["email_frequency"]
            )
            messages.success(request, "Your email preference is saved.")
            return redirect("people:inbox_preferences")
        status = 400
    else:
        form = PreferenceForm(initial={"email_frequency": _preference(request.user)})
        status = 200
    return render(request, "people/preferences.html", {"form": form}, status=status)
