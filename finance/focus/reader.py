"""Stream a FOCUS file (CSV, gzip CSV or Parquet) into a temporary staging table with
``COPY``, never holding the file: a CSV is passed to COPY in 1 MB chunks without being
parsed in Python (gzip is inflated chunk by chunk on the way), a Parquet file is read one
row group batch at a time, only the columns the import uses, and each batch is written
to COPY as CSV by pyarrow.

The staging table has one text column per file column (``c0``, ``c1``, ...) and a row
number: row 2 is the CSV's first data row (row 1 is the header), row 1 a Parquet file's
first record. ``columns`` maps FOCUS column names to staging columns.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from finance.focus.spec import USED, FocusFormatError, check_header

Progress = Callable[[int, int, str], None]
_CHUNK = 1 << 20
_PARQUET_BATCH = 65_536


@dataclass
class Staged:
    version: str
    columns: dict[str, str] = field(default_factory=dict)  # FOCUS name -> staging column
    file_format: str = "csv"


def sniff(stream: IO[bytes], filename: str = "") -> str:
    """``"parquet"``, ``"gzip"`` or ``"csv"`` from the first bytes (or the name)."""
    head = stream.read(4)
    stream.seek(0)
    if head == b"PAR1" or filename.lower().endswith(".parquet"):
        return "parquet"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    return "csv"


def _create_staging(cursor, count: int, first_row: int) -> None:
    cols = "".join(f", c{i} text" for i in range(count))
    cursor.execute("DROP TABLE IF EXISTS focus_staging")
    cursor.execute("DROP SEQUENCE IF EXISTS focus_staging_row")
    cursor.execute(f"CREATE TEMP SEQUENCE focus_staging_row START {first_row}")
    cursor.execute(
        "CREATE TEMP TABLE focus_staging (row_no bigint NOT NULL DEFAULT "
        f"nextval('focus_staging_row'){cols}) ON COMMIT DROP"
    )


def _copy_error(exc: Exception, first_row: int) -> FocusFormatError:
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", "") or ""
    match = re.search(r"line (\d+)", context)
    where = f"row {int(match.group(1)) + first_row - 1}" if match else "the file"
    message = getattr(diag, "message_primary", None) or str(exc)
    return FocusFormatError(f"The file could not be read at {where}: {message}")


def load(
    cursor,
    stream: IO[bytes],
    *,
    filename: str = "",
    size: int = 0,
    declared_version: str = "",
    progress: Progress | None = None,
) -> Staged:
    kind = sniff(stream, filename)
    if kind == "parquet":
        return _load_parquet(cursor, stream, declared_version, progress)
    return _load_csv(cursor, stream, kind, size, declared_version, progress)


def _load_csv(cursor, raw: IO[bytes], kind: str, size: int, declared: str, progress) -> Staged:
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if kind == "gzip" else raw
    try:
        first = stream.readline()
        header = next(csv.reader([first.decode("utf-8-sig")]))
    except (UnicodeDecodeError, StopIteration, OSError, EOFError, csv.Error) as exc:
        raise FocusFormatError(
            "This is not a FOCUS cost and usage file: it is not UTF-8 CSV text"
            + (" inside its gzip" if kind == "gzip" else "")
            + ", nor Parquet."
        ) from exc
    names = [h.strip() for h in header]
    version = check_header(names, declared)
    staged = Staged(version=version, file_format=kind)
    for i, name in enumerate(names):
        if name in USED and name not in staged.columns:
            staged.columns[name] = f"c{i}"
    _create_staging(cursor, len(names), first_row=2)
    sql = (
        f"COPY focus_staging ({', '.join(f'c{i}' for i in range(len(names)))}) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    try:
        with cursor.cursor.copy(sql) as copy:
            while True:
                try:
                    chunk = stream.read(_CHUNK)
                except (OSError, EOFError) as exc:
                    raise FocusFormatError(f"The gzip file is damaged: {exc}") from exc
                if not chunk:
                    break
                copy.write(chunk)
                if progress:
                    progress(raw.tell() if kind == "gzip" else 0, size, "Loading the file")
    except FocusFormatError:
        raise
    except Exception as exc:
        if exc.__class__.__module__.startswith("psycopg"):
            raise _copy_error(exc, first_row=2) from exc
        raise
    return staged


def _load_parquet(cursor, stream: IO[bytes], declared: str, progress) -> Staged:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        raise FocusFormatError(f"The Parquet file cannot be read: {exc}") from exc
    names = list(parquet.schema_arrow.names)
    version = check_header(names, declared)
    wanted = [n for n in USED if n in names]
    staged = Staged(version=version, file_format="parquet")
    staged.columns = {name: f"c{i}" for i, name in enumerate(wanted)}
    _create_staging(cursor, len(wanted), first_row=1)
    total = parquet.metadata.num_rows
    done = 0
    sql = f"COPY focus_staging ({', '.join(staged.columns.values())}) FROM STDIN WITH (FORMAT csv)"
    options = pacsv.WriteOptions(include_header=False)
    with cursor.cursor.copy(sql) as copy:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH, columns=wanted):
            columns = []
            for column in batch.columns:
                if pa.types.is_nested(column.type):  # a map/struct Tags column: JSON text
                    column = pa.array([_json(v) for v in column.to_pylist()], type=pa.string())
                elif pa.types.is_timestamp(column.type):
                    column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.string())
                columns.append(column)
            sink = io.BytesIO()
            pacsv.write_csv(pa.RecordBatch.from_arrays(columns, names=wanted), sink, options)
            copy.write(sink.getvalue())
            done += batch.num_rows
            if progress:
                progress(done, total, "Loading the file")
    return staged


def _json(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # a map arrives as [(key, value), ...]
        value = dict(value)
    return json.dumps(value, separators=(",", ":"), default=str)
