"""Runtime hardening: real beat heartbeats, a cheap /healthz, login lock-out, password
rules, a Content-Security-Policy, production settings that pass ``check --deploy``, error
pages in the app's layout, and ``make run`` serving like production."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


# --- Celery beat heartbeat ------------------------------------------------------------
def test_every_task_soft_time_limit_is_below_its_hard_limit():
    """Celery refuses a task whose soft limit exceeds its hard limit (the heartbeat had a
    30 s hard limit under the global 1,500 s soft one, so beat's heartbeat never ran)."""
    from portfolio.celery import app

    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    for task in ours:
        hard = task.time_limit or app.conf.task_time_limit
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        if hard and soft:
            assert soft < hard, task.name


def test_healthz_reports_beat_from_real_heartbeats_not_from_what_beat_sent(client):
    from django_celery_beat.models import PeriodicTask

    from portfolio import tasks

    # beat sent the heartbeat (last_run_at) but no worker ever ran it: not ok.
    PeriodicTask.objects.filter(task="portfolio.tasks.heartbeat").update(last_run_at=timezone.now())
    beat = client.get("/healthz").json()["beat"]
    assert beat["ok"] is False
    assert beat["last_heartbeat_at"] is None

    tasks.heartbeat.apply()  # what a worker does when beat's message reaches it
    beat = client.get("/healthz").json()["beat"]
    assert beat["ok"] is True
    assert beat["age_seconds"] <= 5


def test_healthz_says_beat_is_stale_after_the_configured_age(client, settings):
    from people.models import Heartbeat

    Heartbeat.objects.update_or_create(
        name="beat", defaults={"beat_at": timezone.now() - dt.timedelta(hours=1)}
    )
    settings.BEAT_STALE_AFTER_SECONDS = 600
    beat = client.get("/healthz").json()["beat"]
    assert beat["ok"] is False
    assert 3500 <= beat["age_seconds"] <= 3700


def test_healthz_does_not_connect_to_the_broker_on_every_call(client, monkeypatch):
    from portfolio.celery import app
    from portfolio.views import health

    health._broker_cache.clear()
    calls = []
    real = app.connection_for_write

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(app, "connection_for_write", counting)
    for _ in range(5):
        assert client.get("/healthz").json()["broker"]["ok"] is True
    assert len(calls) == 1


# --- Sign-in ---------------------------------------------------------------------------
def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(client):
    user = UserFactory(username="target")
    user.set_password("the-right-Passw0rd")
    user.save()
    url = reverse("login")
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "target", "password": f"wrong-{i}"})
    response = client.post(url, {"username": "target", "password": "the-right-Passw0rd"})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (403, 429)
    assert b"locked" in response.content.lower()


def test_a_few_wrong_passwords_do_not_lock_the_account(client):
    user = UserFactory(username="typo")
    user.set_password("the-right-Passw0rd")
    user.save()
    url = reverse("login")
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": "typo", "password": f"wrong-{i}"})
    client.post(url, {"username": "typo", "password": "the-right-Passw0rd"})
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize("weak", ["password", "12345678", "qwerty123", "short"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user=UserFactory.build(username="someone"))


# --- Headers, CSP, deploy checks -------------------------------------------------------
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, pmo):
    client.force_login(pmo)
    response = client.get(reverse("home"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_no_template_has_an_inline_script():
    """The policy allows scripts from our own origin only: an inline <script> would be
    blocked in the browser, so none may exist."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        for match in re.finditer(r"<script\b([^>]*)>", path.read_text()):
            attrs = match.group(1)
            if "src=" not in attrs and "application/json" not in attrs:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
    "ALLOWED_HOSTS": "portfolio.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portfolio.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
}


@pytest.mark.slow
def test_production_settings_pass_check_deploy():
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a server has none.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {**inherited, **PRODUCTION_ENV}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Error pages -----------------------------------------------------------------------
def test_server_error_page_is_in_the_apps_layout_without_details():
    from django.urls import get_resolver

    view = get_resolver().resolve_error_handler(500)
    response = view(RequestFactory().get("/x"))
    body = response.content.decode()
    assert response.status_code == 500
    assert "AI Portfolio" in body and "went wrong" in body
    assert "Traceback" not in body


def test_unknown_page_is_a_friendly_404_in_the_layout(client, pmo):
    client.force_login(pmo)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"We could not find that page" in response.content
    assert b"URLconf" not in response.content


# --- make run --------------------------------------------------------------------------
def test_serve_runs_gunicorn_without_debug_and_dev_runs_runserver_with_it(tmp_path, monkeypatch):
    from portfolio.management.commands.serve import plan

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    commands, env = plan(addr="127.0.0.1:8123", concurrency=2, dev=False, var_dir=tmp_path)
    assert "gunicorn" in commands["web"]
    assert env["DEBUG"] == "false"
    key_file = tmp_path / "secret_key"
    assert env["SECRET_KEY_FILE"] == str(key_file)
    key = key_file.read_text()
    assert len(key) >= 50
    _, again = plan(addr="127.0.0.1:8123", concurrency=2, dev=False, var_dir=tmp_path)
    assert key_file.read_text() == key  # kept across runs: sessions survive a restart
    dev, dev_env = plan(addr="127.0.0.1:8123", concurrency=2, dev=True, var_dir=tmp_path)
    assert "runserver" in dev["web"]
    assert dev_env["DEBUG"] == "true"
    assert {"worker", "beat"} <= set(commands) and {"worker", "beat"} <= set(dev)
