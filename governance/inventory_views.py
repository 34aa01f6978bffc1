"""The inventory upload page (PMO) with its preview, and the OMB 2025 export."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify

from governance.inventory.exporter import export_csv, export_queryset, export_xlsx
from governance.inventory.importer import inventory_import
from governance.inventory.jobs import KIND
from governance.inventory.mapping import BUILTIN_FORMATS, Mapping, MappingError, load_mapping
from governance.inventory.reader import InventoryFileError
from people.jobs import job_create, job_enqueue
from people.roles import PMO
from people.uploads import check_upload
from portfolio.choices import Stage
from portfolio.models import Initiative

#: Files up to this size are previewed and imported in the request; larger ones in Celery.
INLINE_LIMIT = 256 * 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_MAPPING = 1024 * 1024


def _is_pmo(user) -> bool:
    return user.is_superuser or user.groups.filter(name=PMO).exists()


class InventoryUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or XLSX")
    format = forms.ChoiceField(
        choices=[(k, k.upper()) for k in BUILTIN_FORMATS] + [("mapping", "My mapping file")],
        initial="omb-2025",
    )
    mapping = forms.FileField(required=False, help_text="TOML or JSON, see mappings/README.md")
    keep_valid_rows = forms.BooleanField(
        required=False,
        label="Keep the valid rows",
        help_text="Import the valid rows even if some are rejected (otherwise nothing is written)",
    )
    allow_missing_columns = forms.BooleanField(
        required=False,
        label="Go on although most mapped columns are missing",
        help_text="Otherwise a file lacking most of the mapping's columns is refused",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            css = {"select": "form-select", "checkbox": "form-check-input"}
            f.widget.attrs["class"] = css.get(getattr(f.widget, "input_type", ""), "form-control")

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_UPLOAD:
            raise forms.ValidationError("The file is larger than 50 MB.")
        check_upload(f)  # people.uploads: size cap, XLSX unpacked-size cap
        return f

    def clean(self):
        data = super().clean()
        if data.get("format") == "mapping":
            upload = data.get("mapping")
            if not upload:
                self.add_error("mapping", "Choose the mapping file.")
                return data
            try:
                raw = upload.read(MAX_MAPPING + 1)
                if len(raw) > MAX_MAPPING:
                    raise MappingError("The mapping file is larger than 1 MB.")
                data["mapping_obj"] = load_mapping(text=raw, filename=upload.name)
                data["mapping_text"], data["mapping_name"] = raw.decode("utf-8-sig"), upload.name
            except MappingError as exc:
                self.add_error("mapping", str(exc))
        elif data.get("format"):
            data["mapping_obj"] = load_mapping(format_name=data["format"])
        return data


@login_required
def inventory_import_view(request):
    if not _is_pmo(request.user):
        raise PermissionDenied("Only PMO staff may import an inventory.")
    report = None
    form = InventoryUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        dry_run = request.POST.get("action") != "import"
        keep = form.cleaned_data["keep_valid_rows"]
        allow_missing = form.cleaned_data["allow_missing_columns"]
        mapping: Mapping = form.cleaned_data["mapping_obj"]
        content = upload.read()
        if len(content) > INLINE_LIMIT:
            job = job_create(
                kind=KIND,
                requested_by=request.user,
                params={
                    "filename": upload.name,
                    "format": form.cleaned_data["format"],
                    "mapping_text": form.cleaned_data.get("mapping_text", ""),
                    "mapping_name": form.cleaned_data.get("mapping_name", ""),
                    "dry_run": dry_run,
                    "keep_valid_rows": keep,
                    "allow_missing_columns": allow_missing,
                },
                input_file=(upload.name, content),
            )
            from governance.tasks import inventory_import_task

            job_enqueue(job, inventory_import_task)
            return redirect("people:job_detail", pk=job.pk)
        try:
            report = inventory_import(
                acting_user=request.user,
                data=content,
                filename=upload.name,
                mapping=mapping,
                dry_run=dry_run,
                keep_valid_rows=keep,
                allow_missing_columns=allow_missing,
            )
        except InventoryFileError as exc:
            form.add_error("file", str(exc))
    return render(
        request,
        "governance/inventory_import.html",
        {"form": form, "report": report, "inline_limit_kb": INLINE_LIMIT // 1024},
    )


def filtered_initiatives(request):
    """The initiatives the user may see, narrowed by the list filters in the query string."""
    qs = Initiative.objects.visible_to(request.user)
    unit = request.GET.get("unit")
    if unit and unit.isdigit():
        qs = qs.filter(business_unit_id=int(unit)) | qs.filter(business_unit__parent_id=int(unit))
    stage = request.GET.get("stage")
    if stage in Stage.values:
        qs = qs.filter(stage=stage)
    if request.GET.get("source"):
        qs = qs.filter(source=request.GET["source"])
    if request.GET.get("q"):
        qs = qs.filter(name__icontains=request.GET["q"])
    return qs


@login_required
def inventory_export_view(request):
    """GET: a built-in layout (``?format=omb-2025``). POST with a ``mapping`` file: the
    portfolio in that mapping's layout (a malformed mapping is a 400 naming the key)."""
    fmt = request.GET.get("format", "omb-2025")
    if fmt not in BUILTIN_FORMATS:
        fmt = "omb-2025"
    params = request.GET
    if request.method == "POST" and request.FILES.get("mapping"):
        params = request.POST
        upload = request.FILES["mapping"]
        try:
            raw = upload.read(MAX_MAPPING + 1)
            if len(raw) > MAX_MAPPING:
                raise MappingError("The mapping file is larger than 1 MB.")
            mapping = load_mapping(text=raw, filename=upload.name)
        except MappingError as exc:
            return HttpResponse(
                f"The mapping cannot be used: {exc}", status=400, content_type="text/plain"
            )
        fmt = slugify(mapping.name)[:40] or "mapping"
    else:
        mapping = load_mapping(format_name=fmt)
    rows = export_queryset(filtered_initiatives(request))
    stamp = timezone.localdate().isoformat()
    if params.get("as") == "xlsx":
        body = export_xlsx(rows, mapping)
        ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = f"ai-inventory-{fmt}-{stamp}.xlsx"
    else:
        body = export_csv(rows, mapping)
        ctype = "text/csv; charset=utf-8"
        name = f"ai-inventory-{fmt}-{stamp}.csv"
    response = HttpResponse(body, content_type=ctype)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
