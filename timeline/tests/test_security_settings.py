"""Production settings come from the environment: checked in a fresh interpreter, as a server starts."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "conflict.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k7Qz!pL2#vR9@mW4$tY8^bN1&cX6*hJ3(gF5)dS0_aE2+uI7=oP9",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_ALLOWED_HOSTS": "timeline.example.org",
}


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter with the production environment plus ``env``."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "AXES_"))}
    full_env.update(PRODUCTION_ENV)
    full_env.update(env)
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=full_env,
        capture_output=True, text=True, timeout=60, check=False,
    )


def production_settings(*names: str, **env) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = run_python(code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_deploy_check_finds_nothing_to_warn_about_in_production_settings():
    result = run_python("import sys; from django.core.management import execute_from_command_line; "
                        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output
    assert "security." not in output


def test_the_deploy_check_fails_when_https_is_left_off():
    # The same check is not a rubber stamp: without the HTTPS settings it complains.
    result = run_python(
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_HSTS_SECONDS="0", DJANGO_SECURE_COOKIES="0",
    )

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_production_cookies_are_secure_and_unreadable_from_script():
    values = production_settings(
        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SAMESITE", "DEBUG",
    )

    assert values == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax", "CSRF_COOKIE_SAMESITE": "Lax", "DEBUG": False,
    }


def test_hsts_covers_subdomains_and_preload_once_it_is_on_unless_turned_off():
    assert production_settings("SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD") == {
        "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
    }
    assert production_settings(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="0", DJANGO_HSTS_PRELOAD="0",
    ) == {"SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False}


def test_without_https_settings_no_hsts_is_promised():
    values = production_settings(
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
        DJANGO_HSTS_SECONDS="", DJANGO_SECURE_SSL_REDIRECT="0",
    )

    assert values == {"SECURE_HSTS_SECONDS": 0, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False}


def test_postgresql_connections_get_a_statement_timeout_from_the_environment():
    pg = "postgres://someone@127.0.0.1:5432/anything"

    default = production_settings("DATABASES", DATABASE_URL=pg)["DATABASES"]["default"]
    custom = production_settings("DATABASES", DATABASE_URL=pg, DATABASE_STATEMENT_TIMEOUT_MS="1234")["DATABASES"]

    assert default["OPTIONS"] == {"options": "-c statement_timeout=5000"}
    assert default["CONN_HEALTH_CHECKS"] is True
    assert custom["default"]["OPTIONS"] == {"options": "-c statement_timeout=1234"}


def test_sqlite_gets_no_postgresql_options():
    databases = production_settings("DATABASES", DATABASE_URL="sqlite:////tmp/never-opened.sqlite3")["DATABASES"]

    assert databases["default"]["OPTIONS"] == {"timeout": 20}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement_timeout is a PostgreSQL setting; "
                    "this run uses SQLite (CI runs it on PostgreSQL)")
def test_the_statement_timeout_is_in_force_on_the_live_postgresql_connection(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        [value] = cursor.fetchone()

    expected = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT_MS", "5000"))
    assert value == (f"{expected // 1000}s" if expected % 1000 == 0 else f"{expected}ms")


def test_the_admin_lives_under_the_path_the_environment_names():
    code = (
        "import django; django.setup(); from django.urls import reverse, resolve, Resolver404\n"
        "print(reverse('admin:index'))\n"
        "print(resolve('/editors-desk/login/').view_name)\n"
        "try:\n    resolve('/admin/'); print('found')\nexcept Resolver404:\n    print('404')\n"
    )

    result = run_python(code, DJANGO_ADMIN_PATH="/editors-desk/")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/editors-desk/", "admin:login", "404"]


def test_the_admin_path_defaults_to_admin():
    result = run_python("import django; django.setup(); from django.urls import reverse; print(reverse('admin:index'))")

    assert result.stdout.split() == ["/admin/"]
