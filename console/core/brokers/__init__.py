"""Broker adapters: one per transport, behind :class:`.base.BrokerAdapter`.

``adapter_for(settings)`` is the only place that looks at the broker URL's
scheme; everything else asks the adapter (and its :class:`.base.Capabilities`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import BrokerAdapter, Capabilities
from .urls import split_urls, transport_of

if TYPE_CHECKING:
    from ..settings import ClusterSettings

__all__ = ["BrokerAdapter", "Capabilities", "adapter_for", "split_urls"]


def adapter_for(settings: ClusterSettings) -> BrokerAdapter:
    """The adapter of ``settings``' broker (one per settings object and URL)."""
    from ..connection import configured_broker_url

    url = configured_broker_url(settings)
    cached = settings._broker
    if cached is not None and cached[0] == url:
        adapter: BrokerAdapter = cached[1]
        return adapter
    if transport_of(url) == "redis":
        from .redis import RedisAdapter

        adapter = RedisAdapter(settings, url)
    else:
        from .amqp import AmqpAdapter

        adapter = AmqpAdapter(settings, url)
    settings._broker = (url, adapter)
    return adapter
