"""The audit trail: a searchable log for PMO and auditors, and a history page for any
audited record the user may see. Read-only: the trail is append-only in the database."""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from governance import selectors
from governance.audit import PAGE_SIZE, Cursor
from people.permissions import require
from people.scoping import has_global

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
COUNT_CAP = 1000


class AuditLogForm(forms.Form):
    model = forms.ChoiceField(label="Record type", required=False)
    # A username, not a drop-down of every user (2,000 in a large organisation).
    user = forms.CharField(
        label="Changed by (username)", required=False, max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )  # fmt: skip
    object_id = forms.CharField(label="Record id", required=False, max_length=40)
    date_from = forms.DateField(label="From", required=False, widget=DATE)
    date_to = forms.DateField(label="To", required=False, widget=DATE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "All records")] + [
            (event, name) for event, _tracked, name in selectors.audited_models()
        ]

    def clean_user(self):
        username = self.cleaned_data.get("user", "").strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username__iexact=username).first()
        if user is None:
            raise forms.ValidationError("No user with this username.")
        return user

    def clean(self):
        data = super().clean()
        if data.get("object_id") and not data.get("model"):
            self.add_error("object_id", "Choose the record type to look up a record id.")
        return data


@login_required
def audit_log(request):
    """Global roles only (PMO, auditors): unit leads read each record's history on the
    record's page, where the record's own scoping applies. Keyset-paged (``after`` /
    ``before`` cursors) with a capped count: a page costs the same whatever the trail's
    size."""
    require(
        request.user,
        "governance.read_audit_log",
        None,
        "The audit log is for PMO staff and auditors.",
    )
    form = AuditLogForm(request.GET or None)
    page = total = None
    d = form.cleaned_data if form.is_bound and form.is_valid() else {}
    if not form.is_bound or form.is_valid():
        log = selectors.audit_log(
            viewer=request.user,
            event_model=d.get("model") or None,
            user_id=d["user"].pk if d.get("user") else None,
            object_id=d.get("object_id") or None,
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
        )
        try:
            after = Cursor.decode(request.GET["after"]) if request.GET.get("after") else None
            before = Cursor.decode(request.GET["before"]) if request.GET.get("before") else None
        except ValueError:
            after = before = None  # a stale or edited link: start from the newest
        page = log.page(limit=PAGE_SIZE, after=after, before=before)
        total = log.count(cap=COUNT_CAP)
    return render(
        request,
        "governance/audit_log.html",
        {
            "form": form,
            "page": page,
            "total": total,
            "count_cap": COUNT_CAP,
            "next_cursor": page.next.encode() if page and page.next else None,
            "previous_cursor": page.previous.encode() if page and page.previous else None,
        },
    )


@login_required
def record_history(request, label: str, pk: int):
    """The history of one record of any audited model (``app_label.ModelName``), shown to
    whoever may see the record."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise Http404("No such record type.") from exc
    if label not in {tracked for _e, tracked, _n in selectors.audited_models()}:
        raise Http404("That record type has no audit trail.")
    manager = model._default_manager
    if hasattr(manager, "visible_to"):
        obj = get_object_or_404(manager.visible_to(request.user), pk=pk)
    else:
        # Organisation-wide records (standards, controls): anyone who can view the model.
        perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
        if not (has_global(request.user, perm) or selectors.can_read_audit_log(request.user)):
            raise Http404("No such record.")
        obj = get_object_or_404(manager, pk=pk)
    return render(
        request,
        "governance/record_history.html",
        {
            "object": obj,
            "history": selectors.object_history(obj, viewer=request.user),
            "label": label,
        },
    )
