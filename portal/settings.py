"""Custos settings: every value comes from the environment, with its default written beside it.

The defaults alone give the embedded deployment (SQLite under var/, in-memory channel layer,
in-process model pools) with production-safe behaviour: DEBUG off, a generated secret key kept
in var/, no model hub lookups.
"""

import os
import secrets
from pathlib import Path

# NOTE: set before transformers/diffusers are imported anywhere, so a wrong model path fails
# at once instead of hanging on a hub lookup that can never succeed on an air-gapped machine.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

env = os.environ.get  # every setting below names its variable and its default

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _var_secret(variable: str, filename: str) -> str:
    """The environment's secret, else one generated once into var/ (mode 0600)."""
    if key := env(variable):
        return key
    path = VAR_DIR / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


PROFILE = env("PORTAL_PROFILE", "embedded")  # embedded | production
SECRET_KEY = _var_secret("DJANGO_SECRET_KEY", "secret_key")
# Keys the subject-to-pseudonym mapping; separate from SECRET_KEY so rotating that one keeps
# every pseudonym stable.
PSEUDONYM_KEY = _var_secret("PORTAL_PSEUDONYM_KEY", "pseudonym_key")
DEBUG = env("DJANGO_DEBUG", "false") == "true"
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "guardian",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "portal",
    "compliance",
    "inference",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    # NOTE: servestatic, not WhiteNoise: WhiteNoise's middleware is sync-only and would push
    # every async API request through a thread.
    "servestatic.middleware.ServeStaticMiddleware",
    "portal.middleware.ApiErrorMiddleware",
    "portal.middleware.BrowserMiddleware",
]
BROWSER_MIDDLEWARE = [  # everywhere but the token-only /v1/ (see BrowserMiddleware)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# These checks look for sessions, auth, messages, CSRF and X-Frame-Options in MIDDLEWARE; they
# run inside BrowserMiddleware (everywhere but the token-only /v1/, where CSRF has nothing to
# protect and the CSP's frame-ancestors 'none' forbids framing anyway).
SILENCED_SYSTEM_CHECKS = [
    "admin.E408",
    "admin.E409",
    "admin.E410",
    "security.W002",
    "security.W003",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "portal.context_processors.capabilities",
            ],
        },
    },
]


def _database() -> dict:
    """PostgreSQL when DATABASE_URL names it, else SQLite in WAL mode under var/."""
    url = env("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        from urllib.parse import unquote, urlparse

        parts = urlparse(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "custos.sqlite3",
        # Kept open: reopening (and re-running the PRAGMAs) cost a millisecond per request.
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            # NOTE: secure_delete overwrites deleted rows instead of leaving them in free
            # pages, so erased data does not linger in the file (the WAL is checkpointed
            # after an erasure, see compliance.services.erasure).
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "")  # empty: in-memory channel layer
CHANNEL_LAYERS = (
    {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    if REDIS_URL
    else {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}

# Request bodies: a JSON request over this is refused with payload_too_large before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env("PORTAL_MAX_BODY_BYTES", str(2 * 1024 * 1024)))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PROFILE == "production":
    SECURE_SSL_REDIRECT = env("DJANGO_SECURE_SSL_REDIRECT", "true") == "true"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["portal.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}

REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,  # expiry is chosen per token when it is issued
    "AUTO_REFRESH": False,
    "TOKEN_PREFIX": "cus_",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Custos API",
    "DESCRIPTION": "OpenAI-compatible inference (/v1) and the native API (/api/v1) of Custos.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# Inference
PORTAL_MODELS = env("PORTAL_MODELS", str(BASE_DIR / "inference" / "models.toml"))
PORTAL_REGION = env("PORTAL_REGION", "local")
INFERENCE_DEVICE = env("INFERENCE_DEVICE", "auto")  # overrides `auto` in the catalogue
INFERENCE_PRELOAD = env("INFERENCE_PRELOAD", "true") == "true"  # load pools at server start
INFERENCE_TORCH_THREADS = int(env("INFERENCE_TORCH_THREADS", "0"))  # 0: torch's default
INFERENCE_DEFAULT_MAX_TOKENS = int(env("INFERENCE_DEFAULT_MAX_TOKENS", "128"))
INFERENCE_MAX_PROMPT_CHARS = int(env("INFERENCE_MAX_PROMPT_CHARS", "100000"))
JOB_WORKERS = int(env("PORTAL_JOB_WORKERS", "4"))
JOBS_RESUME = env("PORTAL_JOBS_RESUME", "true") == "true"  # at server start
MAX_IMAGE_BYTES = int(env("PORTAL_MAX_IMAGE_BYTES", str(20 * 2**20)))
MAX_IMAGE_PIXELS = int(env("PORTAL_MAX_IMAGE_PIXELS", str(40_000_000)))  # read from the header
MAX_AUDIO_BYTES = int(env("PORTAL_MAX_AUDIO_BYTES", str(25 * 2**20)))
MAX_AUDIO_SECONDS = float(env("PORTAL_MAX_AUDIO_SECONDS", "600"))  # read from the header
# NOTE: uploads stay in memory, never in temporary files: plaintext that touched the disk
# could not be crypto-shredded. An upload over the media limits is refused, not spooled.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = max(MAX_IMAGE_BYTES, MAX_AUDIO_BYTES) + 2**20

# Data at rest
# Master keys wrap the subjects' data keys: base64 AES-256 keys, newest first, comma-separated;
# empty: a keyring file var/master_keys (mode 0600), generated on first use.
MASTER_KEYS = env("PORTAL_MASTER_KEYS", "")
# Keys the output cache's lookup HMAC (one secret per tenant is derived from it).
CACHE_KEY = _var_secret("PORTAL_CACHE_KEY", "cache_key")
# The deployment's Ed25519 key (PEM) that signs erasure receipts and audit checkpoints.
SIGNING_KEY_FILE = Path(env("PORTAL_SIGNING_KEY_FILE", str(VAR_DIR / "signing_key.pem")))
AUDIT_CHECKPOINT_EVERY = int(env("PORTAL_AUDIT_CHECKPOINT_EVERY", "1000"))


def _retention_days(spec: str) -> dict[str, int]:
    """Days each data class is kept, e.g. PORTAL_RETENTION_DAYS="archive=30,jobs=7"."""
    days = {
        "request_logs": 365,
        "archive": 90,
        "cache": 30,  # entries also expire by their own TTL
        "jobs": 30,
        "receipts": 2190,  # six years: proof that an erasure was done
        "audit_trail": 2190,
    }
    for item in filter(None, spec.split(",")):
        data_class, _, value = item.partition("=")
        days[data_class.strip()] = int(value)
    return days


RETENTION_DEFAULT_DAYS = _retention_days(env("PORTAL_RETENTION_DAYS", ""))
RETENTION_BATCH_SIZE = int(env("PORTAL_RETENTION_BATCH_SIZE", "5000"))
ERASURE_DEADLINE_DAYS = 30  # GDPR Art. 12(3): one month from receipt
# How long backups keep what was erased (stated on every erasure receipt).
BACKUP_RETENTION_DAYS = int(env("PORTAL_BACKUP_RETENTION_DAYS", "35"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"withhold": {"()": "portal.log_filters.WithholdExceptionMessages"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["withhold"],
        }
    },
    "root": {"handlers": ["console"], "level": env("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # NOTE: at DEBUG presidio logs the words around each match it finds: never below WARNING.
        "presidio-analyzer": {"level": "WARNING"},
    },
}
