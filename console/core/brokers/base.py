"""The broker adapter protocol: what the rest of the core asks of a transport.

One adapter per transport (:mod:`.redis`, :mod:`.amqp`), chosen by
:func:`console.core.brokers.adapter_for`.  Callers branch on
:class:`Capabilities`, never on a URL scheme or on a caught exception: a
transport that cannot read queued messages without consuming them says so
with ``scan_messages=False`` and callers report that source as unread.

Contract for every adapter:

* ``url`` is the broker URL in use: after :meth:`BrokerAdapter.check` the
  first node of a failover list (``amqp://h1;amqp://h2``) that answered,
  before it the first node.  ``urls`` is the whole list, in order.
* :meth:`check` tries the nodes in order within ``connect_timeout`` each and
  raises :class:`~console.core.errors.BrokerUnreachable` (exit 3, password
  masked) when none answers; :class:`~console.core.errors.UsageError` for a
  malformed URL.
* :meth:`live_workers` names the workers whose pidbox queue is bound to the
  control exchange (``<exchange>.pidbox``): who can answer a broadcast.
  ``None`` when the broker cannot tell (then a broadcast waits its whole
  timeout, and :meth:`live_workers_note` says why, once).
  ``capabilities.exact_live_workers`` says the set is exact (AMQP: the
  bindings of auto-delete queues, via the management API); when False it may
  hold stale names and only bounds the count (Redis: the count comes from
  PUBLISH's receiver number, see :meth:`count_receivers`).
* :meth:`queue_depths` / :meth:`purge` have the same shapes on every
  transport (:class:`console.core.queues.QueueDepth`, ``{queue: removed}``).
* :meth:`iter_messages` only when ``capabilities.scan_messages``.
* :meth:`event_source` builds the event-stream source of
  :mod:`console.core.intake` (``EventSource`` protocol) for this broker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..broker_scan import QueuedMessage
    from ..intake import EventSource
    from ..queues import PurgeOutcome, QueueDepth
    from ..remote import BroadcastResult, RemoteControl


@dataclass(frozen=True)
class Capabilities:
    """What a transport can do; callers check these instead of URL schemes."""

    transport: str  # "redis" | "amqp" (shown to users, never compared by callers)
    #: ``live_workers`` can answer (possibly only with the management API reachable)
    counts_live_workers: bool = False
    #: ``live_workers`` is exact: wait for exactly those workers
    exact_live_workers: bool = False
    #: queued and unacked messages can be read without consuming them
    scan_messages: bool = False
    #: per-queue unacked counts and rates (RabbitMQ's management API)
    unacked_counts: bool = False


class BrokerAdapter(Protocol):
    """The transport-specific part of the core (see the module docstring)."""

    @property
    def url(self) -> str: ...

    @property
    def urls(self) -> list[str]: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def checked(self) -> bool:
        """:meth:`check` found a node that answers (``url`` is that node)."""
        ...

    def check(self) -> str:
        """Connect to the first node that answers; return its URL (also ``url`` after)."""
        ...

    def live_workers(self, exchange: str = "celery", channel: Any = None) -> set[str] | None:
        """Hostnames bound to ``<exchange>.pidbox``; None when the broker cannot tell."""
        ...

    def live_workers_note(self) -> str | None:
        """Why ``live_workers`` answered None (one line for stderr), else None."""
        ...

    def broadcast(
        self,
        method: str,
        arguments: dict[str, Any] | None,
        dest: list[str] | None,
        timeout: float,
        reply: bool,
        started: float,
        exchange: str = "celery",
    ) -> BroadcastResult | None:
        """A pidbox broadcast on the transport's own plain client, or None (use kombu's).

        Only called when the control messages are plain JSON (no -A app, or an app
        whose control settings match the defaults: ``RemoteControl._raw_exchange``).
        """
        ...

    def count_receivers(self, channel: Any) -> list[int] | None:
        """Record how many subscribers each broadcast reached on ``channel`` (kombu).

        Returns the list that receives one count per publish, or None when the
        transport cannot count (AMQP fanout does not say).
        """
        ...

    def queue_depths(
        self,
        rc: RemoteControl | None = None,
        queues: Sequence[str] | None = None,
        timeout: float = 1.0,
        with_consumers: bool = True,
    ) -> list[QueueDepth]: ...

    def purge(self, expected: Mapping[str, int | None]) -> list[PurgeOutcome]:
        """Empty each queue only if it still holds ``expected[q]`` messages (None: any)."""
        ...

    def queue_declared(self, name: str) -> bool:
        """Whether the broker knows a queue named ``name``."""
        ...

    def iter_messages(self, limit: int = 200_000) -> Iterator[QueuedMessage]:
        """Queued and unacked task messages, read non-destructively (``scan_messages``)."""
        ...

    def event_source(self, app: Any, **options: Any) -> EventSource:
        """The event-stream source for this broker (``console.core.intake.EventSource``)."""
        ...
