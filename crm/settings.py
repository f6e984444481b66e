"""CareLoop settings: one module, read from the environment.

With nothing set, CareLoop runs on embedded defaults (a SQLite file, a Celery
broker on the file system, a file cache) so that `make run` needs no server.
Production sets DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, SECRET_KEY and
FIELD_ENCRYPTION_KEY (see README.md and .env.example).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    return env(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

# Development-only fallbacks; a production deployment (DEBUG=0) must set both.
_DEV_SECRET_KEY = "careloop-development-only-secret-key-not-for-production"
_DEV_FIELD_KEY = "Y2FyZWxvb3AtZGV2LW9ubHktZmllbGQta2V5LTAwMDA="
SECRET_KEY = env("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
# Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY") or ([_DEV_FIELD_KEY] if DEBUG else [])
# Key of the HMAC that lets us look a phone number up without decrypting the table. A key of
# its own (production requires it): rotating the encryption keys then never touches the hashes,
# and `rotate_field_keys` re-hashes every row when this key changes.
FIELD_HASH_KEY = env("FIELD_HASH_KEY") or (
    FIELD_ENCRYPTION_KEYS[0] if FIELD_ENCRYPTION_KEYS and DEBUG else ""
)
if not SECRET_KEY or not FIELD_ENCRYPTION_KEYS or not FIELD_HASH_KEY:
    raise ImproperlyConfigured(
        "Set SECRET_KEY, FIELD_ENCRYPTION_KEY and FIELD_HASH_KEY when DEBUG is off."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # its widget templates, for the project's FORM_RENDERER
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "taggit",
    "crm",
    "patients",
    "wechat",
    "followups",
    "content",
    "doctors",
    "workspace",
]
# The benchmark tools (bench/: `manage.py generate_load`) in a checkout; not in the wheel.
if (BASE_DIR / "bench" / "__init__.py").exists():
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "crm.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the request: NUL and control characters are a 400 (crm.guards).
    "crm.guards.RequestGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Inside the session's save, so that the session's own write does not pin the browser.
    "crm.replica.ReplicaMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.middleware.SessionTimeoutMiddleware",
    "crm.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
# Every form field drawn by templates/forms/field.html with Bootstrap's classes (crm/rendering.py).
FORM_RENDERER = "crm.rendering.FormRenderer"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.tenancy.membership_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web, worker and beat processes share one SQLite file: take the write lock at
    # the start of a transaction and wait for it, instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Covering indexes (INCLUDE) are PostgreSQL's speed-up; SQLite builds them without the
    # extra columns, which is all the demo needs. The dashboard rollups' unique constraints
    # (INCLUDE, NULLS NOT DISTINCT) are not built at all: the SQLite demo never fills them, nor
    # the survey questions' deferrable position rule (W038: the editor still keeps positions apart).
    SILENCED_SYSTEM_CHECKS = ["models.W040", "models.W039", "models.W047", "models.W038"]
# An optional streaming replica of the primary for the heavy reads (crm/replica.py,
# docs/scaling.md). Tests point its alias at the replica's copy of the test database.
if env("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(env("DATABASE_REPLICA_URL"), conn_max_age=60)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["crm.replica.ReplicaRouter"]
REPLICA_READS = env_bool("REPLICA_READS", True)
REPLICA_MAX_LAG_SECONDS = float(env("REPLICA_MAX_LAG_SECONDS", "5"))
REPLICA_CHECK_SECONDS = float(env("REPLICA_CHECK_SECONDS", "5"))
REPLICA_PIN_SECONDS = int(env("REPLICA_PIN_SECONDS", "10"))
# The reads that may come from the replica: dashboards, figures, the funnel, exports, counts.
REPLICA_READ_URL_NAMES = {
    "doctor_dashboard",
    "api:dashboard",
    "api:followup-figures",
    "api:channel-figures",
    "api:appointment-figures",
    "api:doctor-funnel",
    "api:patient-counts",
    "api:patient-export",
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
# Several deployments (or the test suite's parallel workers) on one Redis: each starts every
# cache key and broker key with its own prefix, and clearing its cache leaves the others'.
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "crm.cache.PrefixedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    # Shared between web, worker and beat processes, unlike the local-memory cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": BASE_DIR / ".run" / "cache",
        }
    }

# Passwords (等保 2.0): at least 10 characters of three classes, not like the username, not common.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "crm.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "crm.passwords.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user or address first
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Bootstrap's name for the error colour: messages.error shows as alert-danger (red).
MESSAGE_TAGS = {40: "danger"}  # django.contrib.messages.constants.ERROR
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".run" / "static"
# Front-end libraries come from npm (package.json, installed by `make`), served as is.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    ("vendor/echarts", BASE_DIR / "node_modules" / "echarts" / "dist"),
]
# Uploaded files (doctors' licence photos): never served as static; a scoped view sends them.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Sign-in security (README "Security: sign-in and the browser"). A session ends after
# SESSION_IDLE_MINUTES without a request and SESSION_MAX_HOURS after sign-in, whatever happens;
# changing a password ends every session of that user (Django's session auth hash).
SESSION_IDLE_TIMEOUT = timedelta(minutes=int(env("SESSION_IDLE_MINUTES", "30")))
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=int(env("SESSION_MAX_HOURS", "12")))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
# Failed sign-ins (django-axes): SIGNIN_FAILURE_LIMIT failures of one username, or from one
# address, within SIGNIN_LOCKOUT_MINUTES lock it for that long; an admin can unlock earlier.
AXES_FAILURE_LIMIT = int(env("SIGNIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("SIGNIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "crm.signin.client_ip"
AXES_VERBOSE = False
# Behind a reverse proxy (nginx) that sets X-Forwarded-Proto and appends X-Forwarded-For:
# BEHIND_PROXY=1 trusts both (the client address is the right-most X-Forwarded-For entry).
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
X_FRAME_OPTIONS = "DENY"
# A second factor (TOTP, django-otp) for clinic admins and superusers, and for doctors where the
# clinic turns it on (Clinic.doctors_need_second_factor). OTP_ISSUER names CareLoop in the app.
OTP_TOTP_ISSUER = env("OTP_ISSUER", "CareLoop")
OTP_RECOVERY_CODES = 10
# Content-Security-Policy (django-csp): no inline script and no inline style anywhere; page
# scripts are static files and pass data with json_script. WeCom's QR code images are the one
# outside source (img-src).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *env_list("CSP_IMG_SRC", "https://wework.qpic.cn")],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "crm.api_tokens.HashedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.api.IsClinicMember"],
    # JSON in, JSON out; an upload endpoint opts into multipart itself.
    "DEFAULT_PARSER_CLASSES": ["crm.guards.GuardedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.api.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.TokenClientThrottle"],
}
API_TOKEN_RATE = env("API_TOKEN_RATE", "600/min")  # per token client

# A patient merge (patients/merge.py) moves the rows of the apps above patients through these
# modules, in this order: each app moves its own rows (patients imports none of them).
PATIENT_MERGE_MOVERS = ["wechat.merge", "followups.merge", "content.merge"]
# A staff change (crm.services: created, role changed, deactivated, reactivated; Django admin's
# saves too) is told to these modules' `staff_changed(membership=, change=)`, in this order:
# the apps above crm keep their rows about staff (a doctor's profile) where the change is made,
# never in a page's GET.
STAFF_CHANGE_HANDLERS = ["doctors.staff"]
# A patient's date field changed (patients.fields.services): these modules'
# `date_field_changed(patient=, field=, old=, new=, actor=)` run in the same transaction (the
# care plans anchored on the field move their open tasks).
PATIENT_DATE_FIELD_HANDLERS = ["followups.anchors"]
# A new clinic (patients.clinic_defaults.clinic_setup_defaults) is set up by these modules'
# `clinic_setup(clinic=)` too, after patients' tag groups: the rows a page would otherwise make
# on its first GET.
CLINIC_SETUP_STEPS = ["wechat.redline"]
SPECTACULAR_SETTINGS = {
    "TITLE": "CareLoop API",
    "DESCRIPTION": "A clinic's own patient relationship system.",
    "VERSION": "1.20.0",  # the last entry of the API changelog in docs/api.md
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs only for signed-in staff, with Swagger UI from drf-spectacular-sidecar (no CDN).
    "SERVE_PERMISSIONS": ["crm.api.IsClinicMember"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set where several models' fields share a name ("status", "kind").
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "patients.choices.Stage",
        "VisitKindEnum": "patients.models.Visit.Kind",
        "ArticleStatusEnum": "content.models.ArticleStatus",
        "TaskOutcomeEnum": "followups.models.Outcome",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.api.add_error_responses",
    ],
}

# Celery. Without CELERY_BROKER_URL the broker is a folder, so no server is needed.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = str(BASE_DIR / ".run" / "broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _queue_dir,
        "data_folder_out": _queue_dir,
        "processed_folder": str(BASE_DIR / ".run" / "broker-processed"),
        # kombu's exchange table; without it kombu writes a ./control folder into the checkout.
        "control_folder": str(BASE_DIR / ".run" / "broker-control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")) and REDIS_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:"}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {}
# Queues by urgency, each with its own worker pool (Procfile, docker-compose.yml): a callback
# (and the welcome it sends, whose code is valid 20 s) never waits behind a campaign or an
# import. A task not named here goes to "scheduled". Beat runs once, whatever the workers.
CELERY_QUEUE_NAMES = ("callbacks", "sends", "scheduled", "bulk")
CELERY_TASK_DEFAULT_QUEUE = "scheduled"
CELERY_TASK_ROUTES = {
    # The inbox: contact events, the welcome, the scan that retries them.
    "wechat.tasks.callback_process_task": {"queue": "callbacks"},
    "wechat.tasks.callbacks_scan": {"queue": "callbacks"},
    # Everything that leaves through the outbox.
    "wechat.tasks.delivery_send_task": {"queue": "sends"},
    "wechat.tasks.deliveries_send_due_task": {"queue": "sends"},
    # Long work on many rows.
    "patients.tasks.import_commit_task": {"queue": "bulk"},
    "patients.tasks.summaries_refresh_task": {"queue": "bulk"},
    "patients.tasks.summaries_maintain_task": {"queue": "bulk"},
    "content.tasks.campaign_start_task": {"queue": "bulk"},
    "crm.tasks.audit_archive_task": {"queue": "bulk"},
    "wechat.tasks.contacts_sync_task": {"queue": "bulk"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Search terms (names, phone numbers) never reach the access log, even from an API client
    # that still sends `?q=`: runserver's and gunicorn's request lines are redacted.
    "filters": {"redact_search": {"()": "crm.guards.RedactSearchTerms"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_search"]},
    },
    "loggers": {
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # django-axes logs every sign-in at INFO; the audit log has them (crm.signin).
        "axes": {"level": "WARNING"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

# WeCom. The base URL is the only thing that knows whether WeCom is real or our fake.
WECOM_API_BASE_URL = env("WECOM_API_BASE_URL", "https://qyapi.weixin.qq.com/cgi-bin/")
# WeCom's web QR login page (企业微信扫码登录); staff are sent there with our OAuth return URL.
# WeCom's OAuth page (网页授权) that the sidebar sends an unsigned-in member to.
WECOM_OAUTH_URL = env("WECOM_OAUTH_URL", "https://open.weixin.qq.com/connect/oauth2/authorize")
WECOM_SSO_URL = env("WECOM_SSO_URL", "https://login.work.weixin.qq.com/wwlogin/sso/login")
WECOM_RETRY_DELAYS = tuple(float(s) for s in env_list("WECOM_RETRY_DELAYS", "30,120,600,1800,3600"))
WECOM_MAX_ATTEMPTS = int(env("WECOM_MAX_ATTEMPTS", "10"))
WECOM_PACING = float(env("WECOM_PACING", "0.8"))  # share of each WeCom limit we use
# WeCom's limit windows (a minute, an hour) times this: 1 in production; the pacing tests run
# at 0.1, against a fake scaled alike, so they keep the counts and ratios without the waiting.
WECOM_LIMIT_WINDOW_SCALE = 1.0
CELERY_BEAT_SCHEDULE["deliveries-scan"] = {"task": "wechat.tasks.deliveries_scan", "schedule": 10.0}
# Customer messages are WeCom mass-message tasks the staff member confirms in their client:
# their results are polled every minute; an unconfirmed task is reminded every
# WECOM_MASS_REMIND_AFTER seconds (WeCom allows three a day) and expires (cancelled in WeCom,
# its customers 未确认) after WECOM_MASS_CONFIRM_WITHIN seconds.
WECOM_MASS_REMIND_AFTER = int(env("WECOM_MASS_REMIND_AFTER", "7200"))
WECOM_MASS_CONFIRM_WITHIN = int(env("WECOM_MASS_CONFIRM_WITHIN", "86400"))
CELERY_BEAT_SCHEDULE["customer-results-poll"] = {
    "task": "wechat.tasks.customer_results_poll",
    "schedule": 60.0,
}
# Handovers in WeCom (wechat.transfers): a transfer happens 24 hours after it was asked for.
CELERY_BEAT_SCHEDULE["wecom-transfers-poll"] = {
    "task": "wechat.tasks.transfers_poll_task",
    "schedule": 600.0,
}
CELERY_BEAT_SCHEDULE["campaigns-scan"] = {"task": "content.tasks.campaigns_scan", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["callbacks-scan"] = {"task": "wechat.tasks.callbacks_scan", "schedule": 10.0}
CELERY_BEAT_SCHEDULE["wecom-tag-removals"] = {
    "task": "wechat.tasks.tag_removals_push_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["wecom-corp-tags"] = {
    "task": "wechat.tasks.corp_tags_sync_all",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["wecom-contacts-sync"] = {
    "task": "wechat.tasks.contacts_sync_all",
    "schedule": float(env("WECOM_SYNC_SECONDS", "21600")),  # every 6 hours
}
# Demo only: the fake WeCom's control URL. When set, the channel-code page offers "simulate a
# scan". Production leaves it empty.
WECOM_FAKE_CONTROL_URL = env("WECOM_FAKE_CONTROL_URL")

# Follow-ups. Clinic time is Asia/Shanghai whatever the server's zone; quiet hours and the
# staff digest's hours are clinic wall-clock times. The due scan also reads new timeline
# entries and starts plans from triggers (tag added, stage entered, visit recorded).
CLINIC_TIME_ZONE = env("CLINIC_TIME_ZONE", "Asia/Shanghai")
FOLLOWUPS_QUIET_HOURS = tuple(env_list("FOLLOWUPS_QUIET_HOURS", "21:00,08:00"))
FOLLOWUPS_STAFF_HOURS = tuple(env_list("FOLLOWUPS_STAFF_HOURS", "08:00,20:00"))
FOLLOWUPS_MORNING_DIGEST_AT = env("FOLLOWUPS_MORNING_DIGEST_AT", "08:30")
FOLLOWUPS_DIGEST_SLOT_MINUTES = int(env("FOLLOWUPS_DIGEST_SLOT_MINUTES", "60"))
# Appointments are booked within these clinic hours ("" for none); the reminder goes out the
# day before, in the due scan.
APPOINTMENT_HOURS = tuple(env_list("APPOINTMENT_HOURS", "08:00,20:00"))
CELERY_BEAT_SCHEDULE["followups-due-scan"] = {
    "task": "followups.tasks.followups_due_scan",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["followups-results-poll"] = {
    "task": "followups.tasks.reminder_results_poll",
    "schedule": 300.0,
}

# Retention dashboard: its summary tables are rebuilt per clinic this often (the page says
# as of when). A full rebuild takes about a minute at a million patients.
# Patient imports: a commit whose broker message or worker was lost is handed over again.
CELERY_BEAT_SCHEDULE["imports-recover-stale"] = {
    "task": "patients.tasks.imports_recover_stale_task",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["dashboard-summaries-refresh"] = {
    "task": "patients.tasks.summaries_refresh_all",
    "schedule": float(env("DASHBOARD_REFRESH_SECONDS", "900")),  # every 15 minutes
}
CELERY_BEAT_SCHEDULE["dashboard-summaries-maintain"] = {
    "task": "patients.tasks.summaries_maintain_task",
    "schedule": 3600.0,  # the refreshes' VACUUM and ANALYZE, once an hour for all clinics
}

# Audit and PIPL (README: Security). Audit events are kept at least 180 days in the table, then
# moved by the daily archive into gzip JSON-lines files under AUDIT_ARCHIVE_DIR (never lost).
AUDIT_RETENTION_DAYS = int(env("AUDIT_RETENTION_DAYS", "180"))
if AUDIT_RETENTION_DAYS < 180:
    raise ImproperlyConfigured("AUDIT_RETENTION_DAYS must be at least 180 (6 months).")
AUDIT_ARCHIVE_DIR = Path(env("AUDIT_ARCHIVE_DIR", str(BASE_DIR / "archive" / "audit")))
CELERY_BEAT_SCHEDULE["audit-archive"] = {
    "task": "crm.tasks.audit_archive_task",
    "schedule": 86400.0,
}
# A patient's record may not be erased until this many years after their last visit:
# 医疗机构病历管理规定（2013年版）第二十九条, outpatient records kept at least 15 years.
MEDICAL_RECORD_RETENTION_YEARS = int(env("MEDICAL_RECORD_RETENTION_YEARS", "15"))
# API tokens (django-rest-knox): stored as SHA-512 digests, shown once, expiring.
API_TOKEN_TTL_DAYS = int(env("API_TOKEN_TTL_DAYS", "90"))
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_LIMIT_PER_USER": None,
    "AUTO_REFRESH": False,
}
# Requests are refused with a 400 past these (crm.guards): JSON nesting, body size of JSON.
REQUEST_MAX_JSON_DEPTH = int(env("REQUEST_MAX_JSON_DEPTH", "32"))
