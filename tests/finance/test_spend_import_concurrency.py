"""Two imports of one source at the same time: they take turns, and the second sees the
first's postings (it creates nothing and does not fail on the reference key)."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.db import connection, connections

from finance import imports
from finance.models import ImportBatch, SpendEntry
from finance.services import spend_import

pytestmark = pytest.mark.django_db(transaction=True)

FILE = (
    b"date,initiative,kind,category,amount,currency,vendor,reference\n"
    b"2026-01-15,AI-A-1,one_time,compute,1000.00,USD,Cloud Co,P-1\n"
    b"2026-02-15,AI-A-1,operational,vendor,250.50,EUR,Vendor AG,P-2\n"
)


def _waiting_for_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


def test_two_imports_of_one_source_at_once_take_turns(finance, initiative_a, monkeypatch):
    first_wrote, release_first = threading.Event(), threading.Event()
    real_write = imports.write

    def write_then_hold(*args, **kwargs):
        result = real_write(*args, **kwargs)
        if threading.current_thread().name == "first":
            first_wrote.set()
            release_first.wait(30)  # the first import's transaction stays open
        return result

    monkeypatch.setattr(imports, "write", write_then_hold)
    results, failures = {}, []

    def import_in_thread():
        try:
            results[threading.current_thread().name] = spend_import(
                acting_user=finance, file=io.BytesIO(FILE), filename="p.csv", source="erp"
            )
        except Exception as exc:  # reported below, with the thread's name
            failures.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=import_in_thread, name="first")
    second = threading.Thread(target=import_in_thread, name="second")
    first.start()
    assert first_wrote.wait(30)
    second.start()
    deadline = time.monotonic() + 30
    while not _waiting_for_advisory_lock():  # the second import now waits for the first
        assert time.monotonic() < deadline, "the second import never waited for the first"
        time.sleep(0.05)
    release_first.set()
    first.join(30)
    second.join(30)

    assert not failures, failures
    one, two = results["first"].batch, results["second"].batch
    assert (one.status, one.created_count) == (ImportBatch.Status.SUCCEEDED, 2)
    assert (two.status, two.created_count, two.unchanged_count) == (
        ImportBatch.Status.SUCCEEDED,
        0,
        2,
    )
    assert SpendEntry.objects.count() == 2
