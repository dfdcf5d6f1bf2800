"""Named clusters ("contexts") from a config file, selected with ``--context`` / ``CTL_CONTEXT``.

The file is ``$CTL_CONFIG``, else ``$XDG_CONFIG_HOME/ctl/config.toml`` (default
``~/.config/ctl/config.toml``)::

    default_context = "staging"          # optional: used when none is selected

    [contexts.staging]
    broker = "redis://staging-redis:6379/0"
    result_backend = "redis://staging-redis:6379/1"
    app = "proj"
    timeout = 2.0                        # default --timeout of the commands that wait for replies

    [contexts.prod]
    broker_url_env = "PROD_BROKER_URL"   # secrets stay out of the file
    result_backend_env = "PROD_RESULT_BACKEND"
    broker_api = "http://rabbit-prod:15672/api/"
    read_only = true                     # cannot be turned off by a flag, the env or the console
    connect_timeout = 2.0

Precedence (``ClusterSettings.resolve``): flags, then the environment
(``CELERY_BROKER_URL`` ...), then the context, then the app's own config.
Read-only is the exception: any source that says read-only wins.  An unknown
key, a bad value or a missing ``*_env`` variable is an error (exit 2), never
silently ignored: a typo must not point a command at the wrong cluster.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .sanitize import mask_url, safe_text

KEYS: dict[str, type] = {
    "broker": str,
    "broker_url_env": str,
    "result_backend": str,
    "result_backend_env": str,
    "app": str,
    "broker_api": str,
    "broker_api_env": str,
    "read_only": bool,
    "timeout": float,
    "connect_timeout": float,
    "description": str,
}


@dataclass(frozen=True)
class Context:
    name: str
    broker: str | None = None
    result_backend: str | None = None
    app: str | None = None
    broker_api: str | None = None
    read_only: bool = False
    timeout: float | None = None
    connect_timeout: float | None = None
    description: str = ""
    source: str = ""  # the file it came from
    env_names: tuple[tuple[str, str], ...] = ()  # (key, variable) read from the environment

    def shown(self, key: str) -> str | None:
        """A URL for display: masked, or ``$VAR`` when it comes from the environment."""
        env = dict(self.env_names)
        if key in env:
            return f"${env[key]}"
        value = getattr(self, key)
        return mask_url(value) if value else None

    def as_dict(self, *, current: bool = False) -> dict[str, Any]:
        """A JSON-able view with every URL masked (never a password)."""
        return {
            "name": self.name,
            "current": current,
            "broker": self.shown("broker"),
            "result_backend": self.shown("result_backend"),
            "app": self.app,
            "broker_api": self.shown("broker_api"),
            "read_only": self.read_only,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "description": self.description,
        }


def config_path() -> Path:
    explicit = os.environ.get("CTL_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ctl" / "config.toml"


@dataclass(frozen=True)
class ContextFile:
    path: Path
    contexts: dict[str, Context]
    default: str | None


def _value(name: str, key: str, raw: Any, where: str) -> Any:
    kind = KEYS[key]
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        raw = float(raw)
    if not isinstance(raw, kind) or (isinstance(raw, float) and raw <= 0):
        want = {str: "a string", bool: "true or false", float: "a positive number"}[kind]
        raise UsageError(f"{where}: context {name!r}: {key} must be {want}")
    return raw


def _from_env(name: str, var: Any, key: str, where: str) -> str:
    value = os.environ.get(str(var))
    if not value:
        raise UsageError(f"{where}: context {name!r}: {key} names ${var}, which is not set")
    return value


def _context(name: str, table: Any, where: str, resolve_env: bool) -> Context:
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: [contexts.{name}] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(
            f"{where}: context {name!r}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KEYS))})"
        )
    values = {key: _value(name, key, raw, where) for key, raw in table.items()}
    env_names = []
    for key in ("broker", "result_backend", "broker_api"):
        env_key = f"{key}_url_env" if key == "broker" else f"{key}_env"
        if env_key in values:
            if key in values:
                raise UsageError(f"{where}: context {name!r}: give {key} or {env_key}, not both")
            var = values.pop(env_key)
            env_names.append((key, var))
            values[key] = _from_env(name, var, env_key, where) if resolve_env else None
    return Context(name=name, source=where, env_names=tuple(env_names), **values)


def load_contexts(path: Path | None = None, *, resolve_env: bool = True) -> ContextFile:
    """The contexts of the config file (no file: none). UsageError on a bad file."""
    path = path or config_path()
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ContextFile(path, {}, None)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {where}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"contexts", "default_context"})
    if unknown:
        raise UsageError(f"{where}: unknown top-level key(s) {', '.join(unknown)}")
    tables = data.get("contexts", {})
    if not isinstance(tables, Mapping):
        raise UsageError(f"{where}: [contexts] must be a table of tables")
    default = data.get("default_context")
    if default is not None and (not isinstance(default, str) or default not in tables):
        raise UsageError(f"{where}: default_context {default!r} is not a context of the file")
    contexts = {name: _context(name, table, where, resolve_env) for name, table in tables.items()}
    return ContextFile(path, contexts, default)


def select_context(name: str | None, path: Path | None = None) -> Context | None:
    """The context named ``name`` (or ``CTL_CONTEXT``, or the file's default); None: no context."""
    chosen = name or os.environ.get("CTL_CONTEXT") or None
    listing = load_contexts(path, resolve_env=False)
    target = chosen or listing.default
    if target is None:
        return None
    if target not in listing.contexts:
        known = ", ".join(sorted(listing.contexts)) or "none"
        raise UsageError(
            f"no context {safe_text(target, 60, oneline=True)!r} in {listing.path} (known: {known})"
        )
    # the *_env references are read for the chosen context only
    data = tomllib.loads(listing.path.read_text(encoding="utf-8"))
    return _context(target, data["contexts"][target], str(listing.path), True)
