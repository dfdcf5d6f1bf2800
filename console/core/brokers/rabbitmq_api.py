"""A small client of RabbitMQ's HTTP management API (read-only GETs).

Found at ``--broker-api URL`` / ``CTL_BROKER_API`` (the idea of Flower's
``--broker-api``), else ``http://<broker host>:15672/api/``.  Credentials
come from the API URL when it has them, else from the broker URL.  Every
call has a short timeout; an API that failed once is not asked again by the
same client (one command must not pay the timeout per broadcast).  The
password is never part of a message or of :meth:`ManagementAPI.describe`.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..sanitize import mask_url
from .urls import amqp_parts

DEFAULT_PORT = 15672
#: the API is an optimisation: never wait long for it
MAX_TIMEOUT = 1.0


class ManagementAPIError(Exception):
    """The management API could not answer (message has no password)."""


class ManagementAPI:
    def __init__(
        self, base_url: str, user: str | None, password: str | None, vhost: str, timeout: float
    ) -> None:
        parts = urlsplit(base_url)
        if parts.username or parts.password is not None:
            user = unquote(parts.username or "") or user
            password = unquote(parts.password or "") if parts.password is not None else password
            netloc = parts.hostname or "localhost"
            if parts.port:
                netloc += f":{parts.port}"
            parts = parts._replace(netloc=netloc)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.base = urlunsplit((parts.scheme or "http", parts.netloc, path, "", ""))
        self.user = user or "guest"
        self.password = password if password is not None else "guest"
        self.vhost = vhost
        self.timeout = min(max(timeout, 0.05), MAX_TIMEOUT)
        self.failed: str | None = None  # why the first failing call failed

    @classmethod
    def for_broker(cls, broker_url: str, api_url: str | None, timeout: float) -> ManagementAPI:
        host, _port, user, password, vhost = amqp_parts(broker_url)
        if not api_url:
            scheme = "https" if broker_url.lower().startswith("amqps") else "http"
            shown = f"[{host}]" if ":" in host else host
            api_url = f"{scheme}://{shown}:{DEFAULT_PORT}/api/"
        return cls(api_url, user, password, vhost, timeout)

    def describe(self) -> str:
        """The API's address for messages (no credentials in it)."""
        return mask_url(self.base)

    def get(self, path: str) -> Any:
        if self.failed is not None:
            raise ManagementAPIError(self.failed)
        req = urllib.request.Request(self.base + path)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise ManagementAPIError(f"{self.describe()}: not found ({path})") from None
            self.failed = f"{self.describe()}: HTTP {exc.code} {exc.reason}"
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self.failed = f"{self.describe()}: {reason}".replace(self.password, "***")
        raise ManagementAPIError(self.failed)

    def _vh(self) -> str:
        return quote(self.vhost, safe="")

    def pidbox_queues(self, exchange: str = "celery") -> list[str]:
        """Queues bound to ``<exchange>.pidbox`` (one per live worker)."""
        name = quote(f"{exchange}.pidbox", safe="")
        try:
            rows = self.get(f"exchanges/{self._vh()}/{name}/bindings/source")
        except ManagementAPIError:
            if self.failed is not None:
                raise
            return []  # no such exchange yet: no worker ever started
        return [
            str(row.get("destination"))
            for row in rows
            if isinstance(rows, list)
            if isinstance(row, dict) and row.get("destination_type", "queue") == "queue"
        ]

    def queues(self) -> list[dict[str, Any]]:
        """Every queue of the vhost with its counters."""
        rows = self.get(f"queues/{self._vh()}")
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
