"""Post a Django admin change form as a browser would: every field as the page shows it,
plus the caller's changes (inline formsets included)."""

from __future__ import annotations

from django.urls import reverse


def _field_values(form, data: dict) -> None:
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if value is None or value is False:
            continue
        if isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        elif value is True:
            data[key] = "on"
        else:
            data[key] = str(value)


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def post_change(client, obj, **changes):
    """GET the change page of ``obj``, then POST it back with ``changes``. Returns the
    POST's response (or the GET's when the page is refused)."""
    url = change_url(obj)
    page = client.get(url)
    if page.status_code != 200:
        return page
    data: dict = {}
    _field_values(page.context["adminform"].form, data)
    for inline in page.context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value() or 0)
        for form in formset.forms:
            _field_values(form, data)
    for key, value in changes.items():
        data[key] = "" if value is None else value
    return client.post(url, data)
