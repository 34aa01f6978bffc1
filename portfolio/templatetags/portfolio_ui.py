"""Template helpers shared by every list and dashboard page (see templates/components/README.txt).

Load with ``{% load portfolio_ui %}``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

register = template.Library()

DASH = "—"


def _to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def _format(amount: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    amount = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{amount:,.{places}f}"


@register.filter
def money(value, currency: str = "") -> str:
    """A Decimal with its currency, whole units: ``{{ b.amount|money:b.currency }}`` ->
    "USD 1,250,000". Empty values show a dash, never "0"."""
    amount = _to_decimal(value)
    if amount is None:
        return DASH
    text = _format(amount, 0)
    return f"{currency} {text}".strip() if currency else text


@register.filter
def money_exact(value, currency: str = "") -> str:
    """Like ``money`` with cents: "USD 1,250,000.50" (ledgers, single postings)."""
    amount = _to_decimal(value)
    if amount is None:
        return DASH
    text = _format(amount, 2)
    return f"{currency} {text}".strip() if currency else text


@register.filter
def money_short(value, currency: str = "") -> str:
    """Compact money for cards and chart labels: "USD 1.3M", "EUR 850k"."""
    amount = _to_decimal(value)
    if amount is None:
        return DASH
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    for threshold, suffix in ((Decimal("1e9"), "B"), (Decimal("1e6"), "M"), (Decimal("1e3"), "k")):
        if amount >= threshold:
            text = f"{sign}{(amount / threshold).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}{suffix}"
            break
    else:
        text = f"{sign}{_format(amount, 0)}"
    return f"{currency} {text}".strip() if currency else text


@register.filter
def percent(value, places: int = 0) -> str:
    """A ratio (0.42) as "42%"; empty shows a dash."""
    number = _to_decimal(value)
    if number is None:
        return DASH
    return f"{_format(number * 100, int(places))}%"


@register.simple_tag(takes_context=True)
def sort_header(context, field: str, label: str, css_class: str = "") -> str:
    """A sortable ``<th>``: ``{% sort_header "name" "Name" %}``.

    Reads and writes the ``sort`` query parameter ("name" or "-name"), keeps every
    other parameter (filters, search), drops ``page``, and sets ``aria-sort`` so
    screen readers announce the order. The view must whitelist the sort values.
    """
    request = context["request"]
    current = request.GET.get("sort", "")
    params = request.GET.copy()
    params.pop("page", None)
    if current == field:
        params["sort"] = f"-{field}"
        aria, arrow = "ascending", " ▲"
    elif current == f"-{field}":
        params["sort"] = field
        aria, arrow = "descending", " ▼"
    else:
        params["sort"] = field
        aria, arrow = "none", ""
    return format_html(
        '<th scope="col" class="{}" aria-sort="{}"><a class="sort-link" href="?{}">{}{}</a></th>',
        css_class,
        aria,
        params.urlencode(),
        label,
        arrow,
    )


STAGE_COLOURS = {
    "proof_of_concept": "stage-poc",
    "initial_production": "stage-initial",
    "scaled_deployment": "stage-scaled",
    "institutional": "stage-institutional",
    "retired": "stage-retired",
    "killed": "stage-killed",
    "unknown": "stage-unknown",
}


@register.simple_tag
def stage_badge(stage: str, label: str = "") -> str:
    """A coloured badge for a stage: ``{% stage_badge i.stage i.get_stage_display %}``."""
    return format_html(
        '<span class="badge stage-badge {}">{}</span>',
        STAGE_COLOURS.get(stage, "stage-unknown"),
        label or stage,
    )


TIER_COLOURS = {
    "prohibited": "text-bg-dark",
    "high": "text-bg-danger",
    "limited": "text-bg-warning",
    "minimal": "text-bg-success",
    "unassessed": "text-bg-secondary",
}


@register.simple_tag
def tier_badge(tier: str, label: str = "") -> str:
    return format_html(
        '<span class="badge {}">{}</span>',
        TIER_COLOURS.get(tier, "text-bg-secondary"),
        label or tier,
    )


@register.filter
def bs(bound_field):
    """Render a form field's widget with Bootstrap classes and ``aria-invalid`` on errors:
    ``{{ form.name|bs }}``. Works for Django forms and django-filter forms alike."""
    widget = bound_field.field.widget
    input_type = getattr(widget, "input_type", "")
    if input_type in ("checkbox", "radio"):
        css = "form-check-input"
    elif input_type == "select" or widget.__class__.__name__.endswith("Select"):
        css = "form-select"
    else:
        css = "form-control"
    existing = widget.attrs.get("class", "")
    attrs = {"class": f"{css} {existing}".strip()}
    if bound_field.errors:
        attrs["class"] += " is-invalid"
        attrs["aria-invalid"] = "true"
        attrs["aria-describedby"] = f"{bound_field.auto_id}_errors"
    elif bound_field.help_text:
        attrs["aria-describedby"] = f"{bound_field.auto_id}_help"
    return bound_field.as_widget(attrs=attrs)
