"""Text inputs with suggestions, instead of drop-downs of every row (thousands at scale).

Each is a plain text box that works without JavaScript (type a code or a username); with
htmx, suggestions for what is typed fill a ``<datalist>`` from a scoped autocomplete view
(``portfolio.views.initiatives.initiative_autocomplete`` / ``owner_autocomplete``).
"""

from __future__ import annotations

from django import forms
from django.urls import reverse_lazy
from django.utils.html import format_html

from portfolio.models import Initiative


class _Autocomplete(forms.TextInput):
    url = ""
    placeholder = ""

    def __init__(self, attrs=None):
        super().__init__(
            {
                "placeholder": self.placeholder,
                "autocomplete": "off",
                "hx-get": self.url,  # lazy: reversed when rendered
                "hx-trigger": "input changed delay:300ms",
                "hx-swap": "innerHTML",
                **(attrs or {}),
            }
        )

    def _list_id(self, name, attrs) -> str:
        return f"{(attrs or {}).get('id') or name}-options"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id') or name}-options"
        context["widget"]["attrs"].update({"list": list_id, "hx-target": f"#{list_id}"})
        return context

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}"></datalist>', html, self._list_id(name, attrs))


class InitiativeAutocomplete(_Autocomplete):
    """An initiative's code (or id); suggestions from ``/initiatives/autocomplete/``."""

    url = reverse_lazy("initiative_autocomplete")
    placeholder = "Code"


class UserAutocomplete(_Autocomplete):
    """A username; suggestions from ``/initiatives/owners/autocomplete/`` (the people
    holding a role on an initiative the user can see)."""

    url = reverse_lazy("owner_autocomplete")
    placeholder = "Username"


class InitiativeChoiceField(forms.ModelChoiceField):
    """One initiative of ``queryset``, typed as its code (or its id, as links pass
    ``?initiative=<id>``); rendered as the code in an autocomplete text box."""

    widget = InitiativeAutocomplete
    default_error_messages = {
        "invalid_choice": "No initiative you may choose has that code.",
    }

    def __init__(self, queryset=None, **kwargs):
        kwargs.setdefault("label", "Initiative")
        kwargs.setdefault("help_text", "Its code; suggestions appear as you type.")
        super().__init__(Initiative.objects.none() if queryset is None else queryset, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, Initiative):
            return value.code
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            code = Initiative.objects.filter(pk=int(value)).values_list("code", flat=True).first()
            return code or value
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        value = str(value).strip()
        obj = self.queryset.filter(code=value).first()
        if obj is None and value.isdigit():
            obj = self.queryset.filter(pk=int(value)).first()
        if obj is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return obj
