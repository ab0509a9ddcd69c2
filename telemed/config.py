"""Settings, read from the environment (names fixed by DESIGN.md)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value}")
    return value


def _flag_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true or false), got {raw!r}")


def _rate_env(name: str, default: str) -> str:
    """A rate limit in the `limits` notation ("30 per 10 seconds"), checked at start-up."""
    from limits import parse_many

    raw = os.environ.get(name) or default
    try:
        parse_many(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a rate such as '30 per 10 seconds', got {raw!r}") from exc
    return raw


SUPPORTED_LOCALES = ("ru", "kk", "en")  # the languages telemed has catalogues for


def _locales_env() -> tuple[tuple[str, ...], str]:
    """TELEMED_LOCALES (offered, in order of preference) and TELEMED_DEFAULT_LOCALE, checked."""
    raw = os.environ.get("TELEMED_LOCALES") or ",".join(SUPPORTED_LOCALES)
    locales = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [locale for locale in locales if locale not in SUPPORTED_LOCALES]
    if not locales or unknown:
        raise ConfigurationError(f"TELEMED_LOCALES must list some of {', '.join(SUPPORTED_LOCALES)}, "
                                 f"got {raw!r}")
    default = os.environ.get("TELEMED_DEFAULT_LOCALE") or ("ru" if "ru" in locales else locales[0])
    if default not in locales:
        raise ConfigurationError(f"TELEMED_DEFAULT_LOCALE must be one of TELEMED_LOCALES, got {default!r}")
    return locales, default


def _message_queue_env() -> str | None:
    """TELEMED_MESSAGE_QUEUE: unset for one process, a Redis URL for several (DESIGN.md)."""
    url = os.environ.get("TELEMED_MESSAGE_QUEUE") or None
    if url and not url.startswith(("redis://", "rediss://")):
        # python-socketio would take kombu:// or others, but rooms are indexed for Redis only
        # (realtime/manager.py), and the deployment DESIGN.md describes is Redis.
        raise ConfigurationError(f"TELEMED_MESSAGE_QUEUE must be a redis:// or rediss:// URL, got {url!r}")
    return url


def _secret_key(instance_path: Path) -> str:
    """The configured secret key, or one generated once into the instance folder."""
    configured = os.environ.get("TELEMED_SECRET_KEY")
    if configured:
        return configured
    if os.environ.get("TELEMED_ENV") == "production":
        raise ConfigurationError("TELEMED_SECRET_KEY must be set in production")
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


@dataclass
class Settings:
    """Every tunable of the service; `from_env` is the only place that reads the environment."""

    instance_path: Path
    database_url: str
    secret_key: str
    message_queue: str | None = None
    async_mode: str = "eventlet"
    escalation_emergency_s: int = 60
    escalation_urgent_s: int = 600
    escalation_routine_s: int = 3600
    doctor_grace_s: int = 120
    max_active_per_doctor: int = 3
    sweep_interval_s: int = 5
    connection_stale_s: int = 30
    positions_interval_s: float = 1.0
    connections_write_interval_s: float = 0.1
    max_connections: int = 10000
    database_pool_size: int = 10
    export_concurrency: int = 2
    read_timeout_s: int = 30
    header_deadline_s: int = 10
    access_log: bool = False
    socket_rate_limit: str = "30 per 10 seconds"
    socket_sync_rate_limit: str = "4 per 10 seconds"
    write_rate_limit: str = "60 per minute"
    ratelimit_storage_url: str = "memory://"
    login_rate_limit: str = "60 per minute"
    login_account_rate_limit: str = "10 per 15 minutes"
    allowed_origins: list[str] = field(default_factory=list)
    trusted_proxies: int = 0
    timezone: str = "Asia/Almaty"
    locales: tuple[str, ...] = SUPPORTED_LOCALES
    default_locale: str = "ru"
    session_idle_s: int = 12 * 3600
    session_max_s: int = 7 * 24 * 3600
    testing: bool = False
    production: bool = False

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Read the TELEMED_* variables; keyword arguments win over the environment."""
        instance_path = Path(
            overrides.pop("instance_path", None)
            or os.environ.get("TELEMED_INSTANCE_PATH")
            or REPOSITORY_ROOT / "instance"
        ).resolve()
        database_url = (
            overrides.pop("database_url", None)
            or os.environ.get("TELEMED_DATABASE_URL")
            or f"sqlite:///{instance_path / 'telemed.db'}"
        )
        secret_key = overrides.pop("secret_key", None) or _secret_key(instance_path)
        locales, default_locale = _locales_env()
        values = dict(
            instance_path=instance_path,
            database_url=normalise_database_url(database_url),
            secret_key=secret_key,
            message_queue=_message_queue_env(),
            async_mode=os.environ.get("TELEMED_ASYNC_MODE", "eventlet"),
            escalation_emergency_s=_int_env("TELEMED_ESCALATION_EMERGENCY_S", 60),
            escalation_urgent_s=_int_env("TELEMED_ESCALATION_URGENT_S", 600),
            escalation_routine_s=_int_env("TELEMED_ESCALATION_ROUTINE_S", 3600),
            doctor_grace_s=_int_env("TELEMED_DOCTOR_GRACE_S", 120),
            max_active_per_doctor=_int_env("TELEMED_MAX_ACTIVE_PER_DOCTOR", 3),
            sweep_interval_s=max(_int_env("TELEMED_SWEEP_INTERVAL_S", 5), 1),
            connection_stale_s=max(_int_env("TELEMED_CONNECTION_STALE_S", 30), 3),
            positions_interval_s=_int_env("TELEMED_POSITIONS_INTERVAL_MS", 1000) / 1000,
            connections_write_interval_s=_int_env("TELEMED_CONNECTIONS_WRITE_INTERVAL_MS", 100) / 1000,
            max_connections=max(_int_env("TELEMED_MAX_CONNECTIONS", 10000), 16),
            database_pool_size=max(_int_env("TELEMED_DATABASE_POOL_SIZE", 10), 1),
            export_concurrency=max(_int_env("TELEMED_EXPORT_CONCURRENCY", 2), 1),
            read_timeout_s=max(_int_env("TELEMED_READ_TIMEOUT_S", 30), 1),
            header_deadline_s=max(_int_env("TELEMED_HEADER_DEADLINE_S", 10), 1),
            access_log=_flag_env("TELEMED_ACCESS_LOG", False),
            socket_rate_limit=_rate_env("TELEMED_SOCKET_RATE_LIMIT", "30 per 10 seconds"),
            socket_sync_rate_limit=_rate_env("TELEMED_SOCKET_SYNC_RATE_LIMIT", "4 per 10 seconds"),
            write_rate_limit=_rate_env("TELEMED_WRITE_RATE_LIMIT", "60 per minute"),
            ratelimit_storage_url=os.environ.get("TELEMED_RATELIMIT_STORAGE_URL", "memory://"),
            login_rate_limit=_rate_env("TELEMED_LOGIN_RATE_LIMIT", "60 per minute"),
            login_account_rate_limit=_rate_env("TELEMED_LOGIN_ACCOUNT_RATE_LIMIT",
                                               "10 per 15 minutes"),
            timezone=os.environ.get("TELEMED_TIMEZONE", "Asia/Almaty"),
            locales=locales,
            default_locale=default_locale,
            trusted_proxies=_int_env("TELEMED_TRUSTED_PROXIES", 0),
            production=os.environ.get("TELEMED_ENV") == "production",
            session_idle_s=max(_int_env("TELEMED_SESSION_IDLE_S", 12 * 3600), 60),
            session_max_s=max(_int_env("TELEMED_SESSION_MAX_S", 7 * 24 * 3600), 60),
            allowed_origins=[
                o.strip() for o in os.environ.get("TELEMED_ALLOWED_ORIGINS", "").split(",") if o.strip()
            ],
        )
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigurationError(f"unknown settings: {sorted(unknown)}")
        values.update(overrides)
        return cls(**values)

    def flask_config(self) -> dict:
        """The Flask and extension configuration keys these settings imply."""
        is_sqlite = self.database_url.startswith("sqlite")
        engine_options: dict = {"pool_pre_ping": not is_sqlite}
        if not is_sqlite:
            # Reads run outside any transaction (each statement sees what is committed, as under
            # READ COMMITTED anyway), so a read-only request costs no BEGIN and ROLLBACK round
            # trips; a write transaction asks for a real one (db.TRANSACTIONAL).
            engine_options["isolation_level"] = "AUTOCOMMIT"
        # A fixed pool, no overflow: in a burst the requests past the pool wait for a connection,
        # first come first served, and the first ones finish before the later ones start. A pool
        # as large as the burst ran them all interleaved on the one event loop, each as slow as the
        # whole burst, and opened and closed its overflow connections in every burst (docs/
        # decisions.md, "Database connections"; bench c on PostgreSQL: 4.95 x -> 2.15-2.40 x).
        if self.database_url not in ("sqlite://", "sqlite:///:memory:"):  # those share one connection
            engine_options.update(pool_size=self.database_pool_size, max_overflow=0)
        if is_sqlite:
            engine_options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "WTF_CSRF_TIME_LIMIT": None,
            "WTF_CSRF_SSL_STRICT": False,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_url,
            "RATELIMIT_ENABLED": True,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_TRANSLATION_DIRECTORIES": str(REPOSITORY_ROOT / "telemed" / "translations"),
            # Dynamic answers are compressed by telemed.web.assets.compress (never one carrying
            # the session's CSRF token); the browser files are compressed once and kept.
            "COMPRESS_REGISTER": False,
            "COMPRESS_MIMETYPES": ["text/html", "text/plain", "text/csv", "application/json",
                                   "application/fhir+json"],
            "COMPRESS_ALGORITHM": ["br", "gzip"],
            "COMPRESS_ALGORITHM_STREAMING": ["br", "deflate"],
            "COMPRESS_BR_LEVEL": 5,
            "TESTING": self.testing,
            "TELEMED": self,
        }


def normalise_database_url(url: str) -> str:
    """Accept `postgres://` and plain `postgresql://`, choosing psycopg2 (psycogreen can green it)."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain):]
    return url
