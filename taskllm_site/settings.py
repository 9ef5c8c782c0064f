"""TaskLLM settings, driven by the environment.

With no environment at all the site runs on embedded defaults: SQLite, a filesystem
Celery broker and media, all under var/. DATABASE_URL and REDIS_URL switch to
PostgreSQL and Redis with no code change.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TASKLLM_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


# Off unless asked for: `make run` and the tests turn it on (a 404 or 500 in DEBUG shows the site's insides).
DEBUG = env_bool("DJANGO_DEBUG", False)
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
KNOWN_SECRET_KEYS = {"", DEV_SECRET_KEY, "change-me-in-production"}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if SECRET_KEY in KNOWN_SECRET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'): with DEBUG off TaskLLM refuses a missing or published key.")
    SECRET_KEY = DEV_SECRET_KEY
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# HTTPS: on by default when DEBUG is off; each can be turned off from the environment (e.g. a trial over http).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):  # a proxy that ends TLS and sets X-Forwarded-Proto
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: /api/docs/ works offline
    "django_htmx",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.datasets",
    "apps.llm",
    "apps.prompts",
    "apps.runs",
    "apps.review",
    "apps.tuning",
    "apps.evals",
    "apps.deployments",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.audit.AuditActorMiddleware",
]

ROOT_URLCONF = "taskllm_site.urls"
WSGI_APPLICATION = "taskllm_site.wsgi.application"

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
            ],
            "builtins": ["apps.core.templatetags.when"],
        },
    },
]

# Database: PostgreSQL (psycopg 3) when DATABASE_URL is set, SQLite under var/ otherwise.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker imports; IMMEDIATE avoids lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=wal; PRAGMA synchronous=normal;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads over this size go to a temporary file on disk, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Celery: Redis when REDIS_URL is set, a filesystem broker under var/ otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Redis delivers an unacknowledged task again after this long. Only short tasks (minutes) are acks_late; the
    # long ones (runs, evals, imports, fine-tunes) are acked when they start, so none is delivered twice while it
    # runs. A worker's death is noticed by the job's heartbeat instead (apps/core/jobs.py).
    # "priority": a worker takes from its queues in the order of its -Q list (interactive first), so short work
    # goes past long runs waiting in the default queue.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
    # A worker takes a task only when one of its processes is free (a Redis-only setting), so a short task queued
    # later is not stuck behind long ones that a busy worker reserved in advance.
    CELERY_WORKER_DISABLE_PREFETCH = True
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    _broker_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's exchange tables; its default is ./control
    for _folder in (_broker_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TASKLLM_CELERY_QUEUE", "default")
# Fine-tuning on the bundled model runs on a queue of its own, so a GPU machine can serve it alone.
# Short work (imports, small evals, polls, the stale-job check) goes to its own queue, which the default worker
# also serves, so it starts at the next free worker slot instead of after every queued run.
TASKLLM_INTERACTIVE_QUEUE = os.environ.get("TASKLLM_CELERY_INTERACTIVE_QUEUE", "interactive")
TASKLLM_INTERACTIVE_MAX_ANSWERS = 200  # an eval asking at most this many answers counts as short work
# The queues a worker started without -Q serves (interactive first); `train` is served where it is named.
CELERY_TASK_QUEUES = [Queue(TASKLLM_INTERACTIVE_QUEUE), Queue(CELERY_TASK_DEFAULT_QUEUE)]
# The train queue's name can change like the others' (a worker that queues a fine-tune again routes it there).
TASKLLM_TRAIN_QUEUE = os.environ.get("TASKLLM_CELERY_TRAIN_QUEUE", "train")
CELERY_TASK_ROUTES = {"apps.tuning.tasks.finetune_train_local_task": {"queue": TASKLLM_TRAIN_QUEUE}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# acks_late and time limits are chosen per task, each with its reason beside it (apps/*/tasks.py).
# Celery beat: the periodic check for jobs whose worker died (queued again, or failed, by their type).
TASKLLM_STALE_CHECK_SECONDS = float(os.environ.get("TASKLLM_STALE_CHECK_SECONDS", 60))
TASKLLM_WATCH_SECONDS = float(os.environ.get("TASKLLM_WATCH_SECONDS", 60))
CELERY_BEAT_SCHEDULE = {
    "jobs-recover": {"task": "apps.core.tasks.jobs_recover_task", "schedule": TASKLLM_STALE_CHECK_SECONDS,
                     "options": {"queue": TASKLLM_INTERACTIVE_QUEUE, "expires": TASKLLM_STALE_CHECK_SECONDS}},
    "traces-sample-pending": {"task": "apps.deployments.tasks.traces_sample_pending_task", "schedule": 300,
                              "options": {"queue": TASKLLM_INTERACTIVE_QUEUE, "expires": 300}},
    # Scheduled evals and alerts (apps/deployments/watch.py): a small table read each minute, no extra scheduler.
    "deployments-watch": {"task": "apps.deployments.tasks.watch_tick_task", "schedule": TASKLLM_WATCH_SECONDS,
                          "options": {"queue": TASKLLM_INTERACTIVE_QUEUE, "expires": TASKLLM_WATCH_SECONDS}},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Webhook deliveries: tries, and the waits between them (the last wait repeats).
TASKLLM_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("TASKLLM_WEBHOOK_MAX_ATTEMPTS", "5"))
TASKLLM_WEBHOOK_BACKOFF_SECONDS = (10, 60, 300, 1800)
# Alert emails: printed to the console unless a real backend is configured.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    # `format` is ours (the export format), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TaskLLM API",
    "DESCRIPTION": "Projects, members, datasets, records, imports and exports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RecordSplitEnum": "apps.datasets.models.Split",
        "SplitSelectionEnum": ["train", "test", "none"],
        "JobStatusEnum": "apps.core.models.JobStatus",
        "AnswerStatusEnum": "apps.deployments.models.TraceStatus",
        "ImportFormatEnum": "apps.datasets.models.ImportFormat",
        "ModelExportFormatEnum": "apps.tuning.models.ExportFormat",
    },
}

# Dataset files at or under this many bytes import inside the request; larger ones run as a Celery job.
TASKLLM_IMPORT_INLINE_MAX_BYTES = int(os.environ.get("TASKLLM_IMPORT_INLINE_MAX_BYTES", 256 * 1024))
TASKLLM_IMPORT_MAX_PROBLEMS = 50
# The same for test-case files; each of their lines costs more (the leakage guard, points), so the bar is lower.
TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES = int(os.environ.get("TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES",
                                                               64 * 1024))
# Uploads (datasets, test cases): a cap on the file and on each line, with a clear error past either.
TASKLLM_UPLOAD_MAX_BYTES = int(os.environ.get("TASKLLM_UPLOAD_MAX_BYTES", 100 * 1024 * 1024))
TASKLLM_UPLOAD_MAX_LINE_BYTES = int(os.environ.get("TASKLLM_UPLOAD_MAX_LINE_BYTES", 1024 * 1024))
# A running job reports at least this often; one silent for longer is taken to have died.
TASKLLM_JOB_HEARTBEAT_SECONDS = int(os.environ.get("TASKLLM_JOB_HEARTBEAT_SECONDS", "120"))
# How long a reviewer holds the output on their review screen; the open screen renews it every third of this.
TASKLLM_REVIEW_LEASE_SECONDS = int(os.environ.get("TASKLLM_REVIEW_LEASE_SECONDS", "120"))
# A local fine-tune saves a checkpoint (adapter + optimizer state, through the storage API) at the end of each
# epoch and also every this many steps (0: epochs only); a worker that dies goes on from the last one elsewhere.
TASKLLM_FINETUNE_CHECKPOINT_STEPS = int(os.environ.get("TASKLLM_FINETUNE_CHECKPOINT_STEPS", "0"))
# How often a remote fine-tuning job is looked at.
TASKLLM_FINETUNE_POLL_SECONDS = float(os.environ.get("TASKLLM_FINETUNE_POLL_SECONDS", "15"))
# Local copies of files a local model reads from storage (LoRA adapters), per machine.
TASKLLM_LOCAL_CACHE_DIR = Path(os.environ.get("TASKLLM_LOCAL_CACHE_DIR", VAR_DIR / "local-cache"))
# Open models people put here themselves (Hugging Face folders, .gguf files): site admins register them as local
# models (apps/llm/local_models.py). Nothing is ever downloaded into it.
TASKLLM_MODELS_DIR = Path(os.environ.get("TASKLLM_MODELS_DIR", VAR_DIR / "models"))
# Deployments: local models are answered by the model server at this URL (an OpenAI-compatible chat API).
TASKLLM_MODEL_SERVER_URL = os.environ.get("TASKLLM_MODEL_SERVER_URL", "http://127.0.0.1:8100/v1")
# Calls a minute per deployment key unless the key sets its own (0: no limit).
TASKLLM_DEPLOYMENT_RATE_LIMIT_PER_MINUTE = int(os.environ.get("TASKLLM_DEPLOYMENT_RATE_LIMIT_PER_MINUTE", "6000"))
# How long a web process reuses a deployment key and its deployment before reading them again.
TASKLLM_DEPLOYMENT_CACHE_SECONDS = float(os.environ.get("TASKLLM_DEPLOYMENT_CACHE_SECONDS", "5"))
# Traces are written in batches by a background thread of each web process (see deployments/trace_buffer.py).
TASKLLM_TRACE_FLUSH_SECONDS = float(os.environ.get("TASKLLM_TRACE_FLUSH_SECONDS", "0.5"))
TASKLLM_TRACE_BATCH = int(os.environ.get("TASKLLM_TRACE_BATCH", "500"))
TASKLLM_TRACE_BUFFER_MAX = int(os.environ.get("TASKLLM_TRACE_BUFFER_MAX", "200000"))
# A label distribution whose population stability index against the test set exceeds this is flagged as drift.
TASKLLM_DRIFT_PSI_THRESHOLD = float(os.environ.get("TASKLLM_DRIFT_PSI_THRESHOLD", "0.2"))
# `manage.py model_server` (local models behind OpenAI's chat API, on loopback) listens here.
TASKLLM_MODEL_SERVER_PORT = int(os.environ.get("TASKLLM_MODEL_SERVER_PORT", "8100"))

# Hardening (README "Security"): API keys at rest, where model requests may go.
TASKLLM_ENCRYPTION_KEY = os.environ.get("TASKLLM_ENCRYPTION_KEY", "")  # derived from SECRET_KEY when empty


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Link-local (cloud metadata and credentials), the metadata host names and the unspecified addresses are
# never called; loopback is allowed, since a local model server is a real use (deny 127.0.0.0/8,::1 if none).
TASKLLM_MODEL_HOSTS_DENY = env_list(
    "TASKLLM_MODEL_HOSTS_DENY",
    "169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128,fd00:ec2::254/128,metadata.google.internal,metadata")
TASKLLM_MODEL_HOSTS_ALLOW = env_list("TASKLLM_MODEL_HOSTS_ALLOW", "")  # empty: anything not denied
# Site admins create projects; leads too only when this is on.
TASKLLM_LEADS_CREATE_PROJECTS = env_bool("TASKLLM_LEADS_CREATE_PROJECTS", False)
# Login throttling: this many failed logins for one account, or from one address, within the window,
# and further logins there are refused until the window has passed.
TASKLLM_LOGIN_MAX_FAILURES = int(os.environ.get("TASKLLM_LOGIN_MAX_FAILURES", "5"))
TASKLLM_LOGIN_WINDOW_SECONDS = int(os.environ.get("TASKLLM_LOGIN_WINDOW_SECONDS", "900"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # One line per model request is too much in a worker's log; failures are reported on the outputs.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}
