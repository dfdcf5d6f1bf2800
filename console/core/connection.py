"""Fail fast when the broker / result backend cannot be reached.

Celery and kombu retry connections for seconds before giving up; a runbook
wants an answer now.  :func:`check_broker` validates the URL (bad scheme or
unparsable URL -> :class:`UsageError`, exit 2) and opens one TCP connection
(Redis: one ``PING``) bounded by ``settings.connect_timeout``; failure raises
:class:`BrokerUnreachable` (exit 3) with the password masked.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .brokers.urls import AMQP_SCHEMES, REDIS_SCHEMES
from .errors import BackendUnreachable, BrokerUnreachable, CtlError, UsageError
from .sanitize import mask_url

if TYPE_CHECKING:
    from .settings import ClusterSettings

TCP_SCHEMES = AMQP_SCHEMES
OTHER_BROKER_SCHEMES = {"memory", "filesystem", "sqs", "sentinel", "socket", "redis+socket"}
DEFAULT_PORTS = {
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "pyamqp": 5672,
    "librabbitmq": 5672,
}
BACKEND_OTHER_SCHEMES = {
    "rpc",
    "db",
    "database",
    "cache",
    "disabled",
    "memory",
    "file",
    "mongodb",
    "couchbase",
    "cassandra",
    "elasticsearch",
    "dynamodb",
    "s3",
    "azureblockblob",
    "gs",
    "consul",
    "arangodb",
    "cosmosdbsql",
    "couchdb",
    "riak",
    "redis+socket",
    "sentinel",
    "rediss",
    "redis",
}


def parse_url(url: str, what: str = "broker") -> tuple[str, str, int | None]:
    """Return ``(scheme, host, port)`` of the first URL in ``url``; UsageError if malformed."""
    first = url.split(";")[0].strip()
    try:
        parts = urlsplit(first)
        scheme = parts.scheme.lower()
        host = parts.hostname or "localhost"
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid {what} URL {mask_url(first)!r}: {exc}") from None
    if not scheme or "://" not in first:
        raise UsageError(f"invalid {what} URL {mask_url(first)!r}: expected scheme://host[:port]")
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    return scheme, host, port


def validate_broker_url(url: str) -> str:
    """The scheme of ``url``; every node of a failover list (``a;b``) is checked."""
    from .brokers.urls import split_urls

    schemes = []
    for node in split_urls(url) or [url]:
        scheme, _, _ = parse_url(node, "broker")
        if scheme not in REDIS_SCHEMES | TCP_SCHEMES | OTHER_BROKER_SCHEMES:
            raise UsageError(f"unsupported broker URL scheme {scheme!r} in {mask_url(node)!r}")
        schemes.append(scheme)
    return schemes[0]


def _tcp_probe(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _redis_probe(url: str, timeout: float) -> None:
    from .brokers.redis_wire import RespClient

    if RespClient.supports(url):
        # a broker that accepts but never answers (hung, wrong service) must
        # fail within --connect-timeout too: bound the PING's read as well
        client = RespClient(url, timeout, read_timeout=timeout)
        try:
            if client.call("PING") not in ("PONG", b"PONG"):
                raise ConnectionError("unexpected reply to PING")
        finally:
            client.close()
        return
    import redis

    rclient = redis.Redis.from_url(
        url.split(";")[0], socket_connect_timeout=timeout, socket_timeout=timeout, retry=None
    )
    try:
        rclient.ping()
    finally:
        rclient.close()


def check_url(url: str, timeout: float, what: str = "broker") -> None:
    """Probe ``url`` once within ``timeout`` seconds; raise the matching CtlError."""
    exc_type = BrokerUnreachable if what == "broker" else BackendUnreachable
    scheme, host, port = parse_url(url, what)
    try:
        if scheme in REDIS_SCHEMES:
            _redis_probe(url, timeout)
        elif scheme in TCP_SCHEMES and port:
            _tcp_probe(host, port, timeout)
    except CtlError:
        raise  # a malformed URL (``redis://h/notadb``) is a usage error, not "unreachable"
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        detail = detail.replace(url, mask_url(url))
        raise exc_type(f"{what} unreachable at {mask_url(url)}: {detail}") from None


def configured_broker_url(settings: ClusterSettings) -> str:
    """The configured broker URL (a failover list stays whole), without importing
    Celery when no -A app is involved."""
    from .settings import DEFAULT_BROKER

    if not settings.app_module and settings._app is None:
        return settings.broker_url or DEFAULT_BROKER
    return settings.effective_broker_url


def broker_url_of(settings: ClusterSettings) -> str:
    """The broker node in use: the first of a failover list that answered
    :func:`check_broker` (before any check, the first node)."""
    from .brokers import adapter_for

    adapter = adapter_for(settings)
    if len(adapter.urls) > 1 and not adapter.checked:
        adapter.check()  # a failover list: find the node that answers first
    return adapter.url


def check_broker(settings: ClusterSettings) -> str:
    """Fail fast (< connect_timeout per node) when no broker node answers or a URL is bad.

    The nodes of a failover list (``amqp://h1;amqp://h2``) are tried in order, like
    Celery does; the one that answered is used by every later call.  Returns its URL.
    """
    from .brokers import adapter_for

    if settings.broker_url:
        validate_broker_url(settings.broker_url)
    validate_broker_url(configured_broker_url(settings))
    return adapter_for(settings).check()


def check_backend(settings: ClusterSettings) -> str:
    """Fail fast when the result backend is unreachable; returns its URL."""
    url = settings.effective_backend_url
    if not url:
        raise UsageError(
            "no result backend configured (use --result-backend or CELERY_RESULT_BACKEND)"
        )
    scheme, _, _ = parse_url(url, "result backend")
    base = scheme.split("+")[0]
    if base not in BACKEND_OTHER_SCHEMES and scheme not in BACKEND_OTHER_SCHEMES:
        raise UsageError(f"unsupported result backend URL scheme {scheme!r} in {mask_url(url)!r}")
    if scheme in REDIS_SCHEMES:
        check_url(url, settings.connect_timeout, "result backend")
    return url
