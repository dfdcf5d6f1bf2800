"""Which cluster to talk to: broker / backend URLs, app module, timeouts.

Resolution order (same meaning as ``celery``): explicit option, then the
environment (``CELERY_BROKER_URL`` / ``CELERY_RESULT_BACKEND``), then the
imported app's own configuration (``-A``), then ``redis://127.0.0.1:6379/0``.
``CTL_READ_ONLY=1`` turns on read-only mode for both front ends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .sanitize import mask_url, scrub_secrets

if TYPE_CHECKING:
    from celery import Celery

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
TRUTHY = frozenset({"1", "true", "t", "yes", "y", "on", "enable", "enabled"})
FALSY = frozenset({"", "0", "false", "f", "no", "n", "off", "disable", "disabled"})


def parse_flag(value: str | None, name: str) -> bool:
    """Read a boolean setting strictly: the usual true / false words, else UsageError.

    One parser for every front end, so ``CTL_READ_ONLY=readonly`` can never
    mean "writable" in one place and "read-only" in another: a value that is
    not clearly true or false is refused (exit 2), never guessed.
    """
    text = (value or "").strip().lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    from .sanitize import safe_text

    raise UsageError(
        f"{name}={safe_text(value, 40, oneline=True)!r} is not a yes/no value "
        "(use 1/true/yes/on or 0/false/no/off)"
    )


def env_flag(name: str) -> bool:
    """``parse_flag`` of the environment variable ``name`` (unset: False)."""
    return parse_flag(os.environ.get(name), name)


def read_only_from_env() -> bool:
    """``CTL_READ_ONLY`` as both the CLI and the console read it."""
    return env_flag("CTL_READ_ONLY")


@dataclass
class ClusterSettings:
    broker_url: str | None = None
    result_backend: str | None = None
    app_module: str | None = None
    connect_timeout: float = 1.0
    read_only: bool = False
    context: str | None = None  # the named context in use (console/core/contexts.py)
    broker_api: str | None = None  # a broker's HTTP management API (RabbitMQ)
    reply_timeout: float | None = None  # the context's default --timeout for replies
    #: newest results the console loads from the backend on start / resync (0: none)
    history: int = 10_000
    #: what the environment overrode of the context (the CLI says so on stderr)
    overridden: tuple[str, ...] = ()
    _app: Any = field(default=None, init=False, repr=False, compare=False)
    #: (broker URL, its adapter): console.core.brokers.adapter_for caches it here
    _broker: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def resolve(
        cls,
        app: str | None = None,
        broker: str | None = None,
        result_backend: str | None = None,
        connect_timeout: float | None = None,
        read_only: bool | None = None,
        context: str | None = None,
        broker_api: str | None = None,
    ) -> ClusterSettings:
        """Flags, then the environment, then the named context, then the app's config.

        Read-only is the exception: any source that says read-only wins, so a
        read-only context cannot be made writable by a flag or the environment.
        """
        from .contexts import select_context

        ctx = select_context(context)
        overridden = []
        values: dict[str, str | None] = {}
        for key, flag, var in (
            ("broker", broker, "CELERY_BROKER_URL"),
            ("result_backend", result_backend, "CELERY_RESULT_BACKEND"),
            ("app", app, "CELERY_APP"),
            ("broker_api", broker_api, "CTL_BROKER_API"),
        ):
            from_ctx = getattr(ctx, key) if ctx is not None else None
            env = os.environ.get(var) or None
            if flag is None and env and from_ctx and env != from_ctx and ctx is not None:
                overridden.append(
                    f"{var} from the environment overrides the {key} of context {ctx.name!r}"
                )
            values[key] = flag or env or from_ctx or None
        if connect_timeout is None and ctx is not None and ctx.connect_timeout:
            connect_timeout = ctx.connect_timeout
        read_only_now = read_only_from_env() if read_only is None else bool(read_only)
        settings = cls(
            broker_url=values["broker"],
            result_backend=values["result_backend"],
            app_module=values["app"],
            connect_timeout=float(connect_timeout) if connect_timeout is not None else 1.0,
            read_only=read_only_now or bool(ctx is not None and ctx.read_only),
            context=ctx.name if ctx is not None else None,
            broker_api=values["broker_api"],
            reply_timeout=ctx.timeout if ctx is not None else None,
            overridden=tuple(overridden),
        )
        if settings.connect_timeout <= 0:
            raise UsageError("--connect-timeout must be positive")
        if app or os.environ.get("CELERY_APP"):
            # an app named by -A / CELERY_APP is looked up now, as `celery -A` does
            # before any command: a typo is a usage error (exit 2), never "broker
            # unreachable" later on.  A context's app is looked up when first used
            # (`ctl contexts` lists contexts whose app is not importable here).
            settings.app  # noqa: B018
        return settings

    def timeout(self, given: float | None, default: float = 1.0) -> float:
        """A command's reply timeout: the flag, else the context's, else ``default``."""
        if given is not None:
            return given
        return self.reply_timeout if self.reply_timeout is not None else default

    # -- the Celery app ---------------------------------------------------
    @property
    def app(self) -> Celery:
        """The Celery app: the ``-A`` module's, or a bare one from the URLs."""
        if self._app is None:
            self._app = self._make_app()
        return self._app

    def _make_app(self) -> Celery:
        from celery import Celery

        if self.app_module:
            app = load_app(self.app_module)
        else:
            app = Celery("ctl", set_as_current=False)
            app.conf.accept_content = ["json"]
        # Celery's ``conf.broker_url`` / ``conf.result_backend`` prefer
        # CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment over
        # the config.  An explicit option must win without touching
        # os.environ (that would leak into everything else in the process), so
        # it is pinned where Celery looks first: broker_read/write_url for
        # connections and ``backend_cls`` (a URL) for the result backend.
        # Code that needs the URL uses ``effective_broker_url``.
        if self.broker_url:
            app.conf.broker_url = self.broker_url
            app.conf.broker_read_url = self.broker_url
            app.conf.broker_write_url = self.broker_url
        elif not self.app_module:
            app.conf.broker_url = DEFAULT_BROKER
        if self.result_backend:
            app.conf.result_backend = self.result_backend
            app.backend_cls = self.result_backend
        elif not self.app_module and not app.conf.result_backend:
            app.conf.result_backend = app.conf.broker_url
        # never let a one-shot CLI call sit in Celery's retry loops
        app.conf.broker_connection_retry_on_startup = False
        app.conf.broker_connection_timeout = self.connect_timeout
        app.conf.broker_connection_max_retries = 0
        app.conf.redis_socket_connect_timeout = self.connect_timeout
        app.conf.redis_socket_timeout = max(self.connect_timeout, 5.0)
        app.conf.result_backend_transport_options = {
            **(app.conf.result_backend_transport_options or {}),
            "retry_policy": {"max_retries": 0},
        }
        return app

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or str(self.app.conf.broker_url or DEFAULT_BROKER)

    @property
    def effective_backend_url(self) -> str | None:
        backend = self.result_backend or self.app.conf.result_backend
        return str(backend) if backend else None

    @property
    def masked_broker(self) -> str:
        return mask_url(self.effective_broker_url)

    def scrub(self, message: str) -> str:
        """Remove broker/backend passwords from any message."""
        return scrub_secrets(
            message,
            self.broker_url,
            self.result_backend,
            self._app and self.effective_broker_url,
            self._app and self.effective_backend_url,
        )


def load_app(module: str) -> Celery:
    """The app of ``-A module``, found exactly as ``celery -A module`` finds it.

    See :mod:`console.core.app_lookup` (Celery's own ``find_app``).
    """
    from .app_lookup import find_celery_app

    return find_celery_app(module)
