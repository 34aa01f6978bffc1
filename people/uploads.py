"""Guards for uploaded files, shared by every upload page (spend, inventory) and the
tasks that read the stored files.

- :func:`check_upload_size`: the file is not larger than ``settings.UPLOAD_MAX_MB``.
- :func:`check_xlsx_unpacked_size`: an XLSX workbook (a zip) does not unpack to more than
  ``settings.UPLOAD_XLSX_MAX_UNPACKED_MB``. openpyxl reads the shared strings of a
  workbook into memory even in read-only mode, so a 409 KB file whose strings inflate to
  400 MB took a worker to 784 MB. The zip's central directory declares each member's
  unpacked size, and Python's zipfile never inflates a member past what it declares, so
  checking the declared sizes bounds the memory a parse can take.
- :func:`check_upload`: both, by file type, raising one clear ``ValidationError``.
"""

from __future__ import annotations

import zipfile
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError

MB = 1024 * 1024


def _mb(size: int) -> str:
    return f"{size / MB:,.1f} MB"


def is_xlsx(name: str, stream: IO[bytes]) -> bool:
    pos = stream.tell()
    head = stream.read(4)
    stream.seek(pos)
    return name.lower().endswith(".xlsx") or head == b"PK\x03\x04"


def check_upload_size(size: int) -> None:
    limit = settings.UPLOAD_MAX_MB * MB
    if size > limit:
        raise ValidationError(
            f"The file is {_mb(size)}; the largest file accepted is {settings.UPLOAD_MAX_MB} MB "
            "(UPLOAD_MAX_MB). Split it, or import it with the command line.",
            code="too_large",
        )


def check_xlsx_unpacked_size(stream: IO[bytes]) -> None:
    """Refuse a workbook whose members unpack to more than the cap (or that is not a zip)."""
    limit = settings.UPLOAD_XLSX_MAX_UNPACKED_MB * MB
    pos = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                if total > limit:
                    raise ValidationError(
                        f"The workbook unpacks to more than "
                        f"{settings.UPLOAD_XLSX_MAX_UNPACKED_MB} MB "
                        "(UPLOAD_XLSX_MAX_UNPACKED_MB); save it as CSV, or split it.",
                        code="xlsx_too_large",
                    )
    except zipfile.BadZipFile as exc:
        raise ValidationError("The file is not a readable XLSX workbook.", code="bad_xlsx") from exc
    finally:
        stream.seek(pos)


def check_upload(upload) -> None:
    """Size cap for every upload, unpacked-size cap for XLSX. ``upload`` is a Django
    ``UploadedFile`` or any binary file object with a ``name``."""
    size = getattr(upload, "size", None)
    if size is None:
        pos = upload.tell()
        upload.seek(0, 2)
        size = upload.tell()
        upload.seek(pos)
    check_upload_size(size)
    if is_xlsx(getattr(upload, "name", "") or "", upload):
        check_xlsx_unpacked_size(upload)
