"""Issue 12, residue: ``manage.py serve`` starts gunicorn (or runserver), a Celery worker
and beat. Migrations run before them, as the owner; the children run as the app role
only, so their environment carries no owner credentials (neither ``DATABASE_OWNER_URL``
nor its ``_FILE`` form), and with the embedded server they are pointed at the app role's
URL instead of deriving the owner's themselves."""

from __future__ import annotations

import pytest

from portfolio.management.commands.serve import plan


@pytest.mark.parametrize("dev", [False, True])
def test_children_get_no_owner_credentials(tmp_path, monkeypatch, settings, dev):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/portfolio")
    monkeypatch.setenv("DATABASE_OWNER_URL", "postgresql://owner:secret@db/portfolio")
    monkeypatch.setenv("DATABASE_OWNER_URL_FILE", str(tmp_path / "owner_url"))
    settings.EMBEDDED_DATABASE = False
    _, env = plan(addr="127.0.0.1:8123", concurrency=1, dev=dev, var_dir=tmp_path)
    assert "DATABASE_OWNER_URL" not in env
    assert "DATABASE_OWNER_URL_FILE" not in env
    assert not any("owner:secret" in value for value in env.values())
    assert env["DATABASE_URL"] == "postgresql://app@db/portfolio"


def test_embedded_server_children_use_the_app_roles_url(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_OWNER_URL", raising=False)
    settings.EMBEDDED_DATABASE = True
    settings.DATABASE_URL = "postgresql://portfolio_app:@%2Ftmp%2Fsock/postgres"
    _, env = plan(addr="127.0.0.1:8123", concurrency=1, dev=False, var_dir=tmp_path)
    # Without DATABASE_URL a child would start from the embedded server's owner URL.
    assert env["DATABASE_URL"] == settings.DATABASE_URL
    assert "DATABASE_OWNER_URL" not in env
