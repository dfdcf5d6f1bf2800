"""Broker URL lists: ``amqp://h1;amqp://h2`` is tried in order, like kombu does."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..errors import UsageError
from ..sanitize import mask_url

REDIS_SCHEMES = frozenset({"redis", "rediss"})
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp", "librabbitmq"})
#: results of these backends go only to the client that sent the task
CALLER_ONLY_BACKENDS = frozenset({"rpc"})


def split_urls(url: str) -> list[str]:
    """The nodes of a failover list, in order (kombu splits on ``;``)."""
    return [part.strip() for part in url.split(";") if part.strip()]


def scheme_of(url: str) -> str:
    """Lower-case scheme of the first node ("" when there is none)."""
    first = split_urls(url)[0] if split_urls(url) else ""
    return first.split("://", 1)[0].lower() if "://" in first else ""


def transport_of(url: str) -> str:
    """``redis`` / ``amqp`` / the scheme itself for other transports."""
    scheme = scheme_of(url)
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "amqp"
    return scheme


def results_go_to_caller_only(backend_url: str | None) -> bool:
    """True for ``rpc://``: results travel to the sender's own reply queue only."""
    return bool(backend_url) and scheme_of(str(backend_url)) in CALLER_ONLY_BACKENDS


def amqp_parts(url: str) -> tuple[str, int, str | None, str | None, str]:
    """``(host, port, user, password, vhost)`` of one AMQP node (percent-decoded)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or (5671 if parts.scheme.lower() == "amqps" else 5672)
    except ValueError as exc:
        raise UsageError(f"invalid broker URL {mask_url(url)!r}: {exc}") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    vhost = unquote(path) if path else "/"
    return host, port, user, password, vhost
