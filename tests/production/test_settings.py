"""Configuration from the environment, read in a fresh process as a deployment would."""
import json
import os
import subprocess
import sys

from cryptography.fernet import Fernet

from .stack import ROOT

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG, "SECRET_KEY": s.SECRET_KEY, "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "ENGINE": s.DATABASES["default"]["ENGINE"], "DB_NAME": str(s.DATABASES["default"]["NAME"]),
    "DB_HOST": s.DATABASES["default"].get("HOST", ""),
    "LAYER": s.CHANNEL_LAYERS["default"]["BACKEND"], "LAYER_HOSTS": s.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "BROKER": s.CELERY_BROKER_URL, "RESULTS": s.CELERY_RESULT_BACKEND, "EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "RUNNERS_IN_PROCESS": s.RUNNERS_IN_PROCESS, "ENCRYPTION_KEY": s.ENCRYPTION_KEY,
    "EMAIL_BACKEND": s.EMAIL_BACKEND, "EMAIL_HOST": s.EMAIL_HOST, "EMAIL_PORT": s.EMAIL_PORT,
    "EMAIL_HOST_USER": s.EMAIL_HOST_USER, "EMAIL_HOST_PASSWORD": s.EMAIL_HOST_PASSWORD,
    "EMAIL_USE_TLS": s.EMAIL_USE_TLS, "DEFAULT_FROM_EMAIL": s.DEFAULT_FROM_EMAIL,
}))
"""
NAMES = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "PARLEY_ENCRYPTION_KEY",
         "PARLEY_PRODUCTION", "PARLEY_RUNNERS_IN_PROCESS", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER",
         "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "DEFAULT_FROM_EMAIL", "EMAIL_BACKEND")
GOOD_SECRET = "k" * 50
PRODUCTION = {
    "PARLEY_PRODUCTION": "true", "SECRET_KEY": GOOD_SECRET, "PARLEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://parley:pw@db.internal:5432/parley", "REDIS_URL": "redis://cache.internal:6379/0",
    "ALLOWED_HOSTS": "parley.example.org",
}


def load(tmp_path, **environ):
    env = {k: v for k, v in os.environ.items() if k not in NAMES and not k.endswith("_FILE")
           and not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", PARLEY_DATA_DIR=str(tmp_path), **environ)
    return subprocess.run([sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def settings_of(tmp_path, **environ):
    result = load(tmp_path, **environ)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_environment_is_the_embedded_default(tmp_path):
    s = settings_of(tmp_path)
    assert s["DEBUG"] is True
    assert s["ENGINE"].endswith("sqlite3") and s["DB_NAME"].startswith(str(tmp_path))
    assert s["LAYER"] == "streaming.layers.InProcessChannelLayer"
    assert (s["BROKER"], s["EAGER"], s["RUNNERS_IN_PROCESS"]) == ("memory://", True, True)
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert s["ENCRYPTION_KEY"] == ""


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path):
    s = settings_of(tmp_path, DATABASE_URL="postgres://parley:pw@db.internal:5433/parley",
                    REDIS_URL="redis://cache.internal:6379/2")
    assert (s["ENGINE"], s["DB_NAME"], s["DB_HOST"]) == ("django.db.backends.postgresql", "parley", "db.internal")
    assert s["LAYER"] == "channels_redis.core.RedisChannelLayer"
    assert s["LAYER_HOSTS"] == [{"address": "redis://cache.internal:6379/2", "max_connections": 1000}]
    assert s["BROKER"] == s["RESULTS"] == "redis://cache.internal:6379/2"
    # Daphne never runs sessions in the production topology: run_sessions workers do.
    assert (s["EAGER"], s["RUNNERS_IN_PROCESS"]) == (False, False)


def test_secrets_hosts_and_email_come_from_the_environment(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(GOOD_SECRET + "\n")
    s = settings_of(tmp_path, SECRET_KEY_FILE=str(secret), ALLOWED_HOSTS="a.example.org, b.example.org",
                    PARLEY_ENCRYPTION_KEY="key-1", EMAIL_HOST="smtp.example.org", EMAIL_PORT="465",
                    EMAIL_HOST_USER="parley", EMAIL_HOST_PASSWORD="pw", DEFAULT_FROM_EMAIL="p@example.org")
    assert s["SECRET_KEY"] == GOOD_SECRET
    assert s["ALLOWED_HOSTS"] == ["a.example.org", "b.example.org"]
    assert s["ENCRYPTION_KEY"] == "key-1"
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (s["EMAIL_HOST"], s["EMAIL_PORT"], s["EMAIL_HOST_USER"], s["EMAIL_HOST_PASSWORD"]) == (
        "smtp.example.org", 465, "parley", "pw")
    assert s["EMAIL_USE_TLS"] is False and s["DEFAULT_FROM_EMAIL"] == "p@example.org"


def test_production_mode_with_safe_settings_starts_with_debug_off(tmp_path):
    s = settings_of(tmp_path, **PRODUCTION)
    assert s["DEBUG"] is False
    assert s["SECRET_KEY"] == GOOD_SECRET


def refusal(tmp_path, **environ):
    result = load(tmp_path, **{**PRODUCTION, **environ})
    assert result.returncode != 0, "production mode must refuse to start"
    assert "ImproperlyConfigured" in result.stderr and "refuses to start in production mode" in result.stderr
    return result.stderr


def test_production_mode_refuses_debug_on(tmp_path):
    assert "DEBUG is on" in refusal(tmp_path, DEBUG="true")


def test_production_mode_refuses_the_default_or_a_short_secret_key(tmp_path):
    assert "SECRET_KEY" in refusal(tmp_path, SECRET_KEY="parley-embedded-default-not-secret")
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = load(tmp_path, **env)
    assert result.returncode != 0 and "SECRET_KEY is the embedded default" in result.stderr
    assert "SECRET_KEY" in refusal(tmp_path, SECRET_KEY="short")


def test_production_mode_refuses_a_missing_or_malformed_encryption_key(tmp_path):
    assert "PARLEY_ENCRYPTION_KEY is not set" in refusal(tmp_path, PARLEY_ENCRYPTION_KEY="")
    assert "not a Fernet key" in refusal(tmp_path, PARLEY_ENCRYPTION_KEY="not-a-key")


def test_production_mode_refuses_sqlite_and_a_wildcard_host(tmp_path):
    assert "DATABASE_URL and REDIS_URL" in refusal(tmp_path, DATABASE_URL="")
    assert "ALLOWED_HOSTS contains '*'" in refusal(tmp_path, ALLOWED_HOSTS="*")


def test_a_malformed_boolean_is_a_clear_error(tmp_path):
    result = load(tmp_path, DEBUG="yes please")
    assert result.returncode != 0 and "DEBUG must be true or false" in result.stderr
