"""Broker adapter plumbing that needs no broker: URL lists, adapter choice, the API client."""

from __future__ import annotations

import socket

import pytest

from console.core.brokers import adapter_for
from console.core.brokers.rabbitmq_api import ManagementAPI, ManagementAPIError
from console.core.brokers.urls import (
    amqp_parts,
    results_go_to_caller_only,
    split_urls,
    transport_of,
)
from console.core.errors import BrokerUnreachable, UsageError
from console.core.settings import ClusterSettings


def test_failover_lists_split_in_order() -> None:
    assert split_urls("amqp://h1;amqp://h2; amqp://h3 ") == ["amqp://h1", "amqp://h2", "amqp://h3"]
    assert split_urls("redis://x/0") == ["redis://x/0"]
    assert transport_of("pyamqp://h1;pyamqp://h2") == "amqp"
    assert transport_of("rediss://h") == "redis"
    assert results_go_to_caller_only("rpc://") and not results_go_to_caller_only("redis://h/1")
    assert not results_go_to_caller_only(None)


def test_amqp_parts_percent_decoded() -> None:
    assert amqp_parts("amqp://u%40x:p%3Aw@rabbit:5673/my%2Fvh") == (
        "rabbit",
        5673,
        "u@x",
        "p:w",
        "my/vh",
    )
    assert amqp_parts("amqp://h")[1:] == (5672, None, None, "/")
    assert amqp_parts("amqps://h")[1] == 5671


def test_adapter_follows_the_scheme_and_declares_capabilities() -> None:
    redis = adapter_for(ClusterSettings(broker_url="redis://127.0.0.1:1/0"))
    assert redis.capabilities.scan_messages and not redis.capabilities.exact_live_workers
    amqp = adapter_for(ClusterSettings(broker_url="amqp://h1;amqp://h2"))
    assert amqp.urls == ["amqp://h1", "amqp://h2"] and amqp.url == "amqp://h1"
    assert amqp.capabilities.exact_live_workers and not amqp.capabilities.scan_messages
    with pytest.raises(UsageError):
        list(amqp.iter_messages())


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_dead_node_of_a_list_is_exit_3_without_password() -> None:
    a, b = _dead_port(), _dead_port()
    settings = ClusterSettings(
        broker_url=f"amqp://u:s3cret@127.0.0.1:{a}//;amqp://u:s3cret@127.0.0.1:{b}//",
        connect_timeout=0.3,
    )
    with pytest.raises(BrokerUnreachable) as err:
        adapter_for(settings).check()
    assert "s3cret" not in str(err.value) and str(a) in str(err.value) and str(b) in str(err.value)


def test_management_api_default_address_and_credentials() -> None:
    api = ManagementAPI.for_broker("amqp://u:pw@rabbit.example:5672/vh", None, 5.0)
    assert api.base == "http://rabbit.example:15672/api/"
    assert (api.user, api.password, api.vhost) == ("u", "pw", "vh")
    assert api.timeout <= 1.0  # never long, whatever --connect-timeout says
    given = ManagementAPI.for_broker("amqp://u:pw@h//", "https://adm:apw@mgmt:443/api", 0.5)
    assert given.base == "https://mgmt:443/api/" and (given.user, given.password) == ("adm", "apw")
    assert "apw" not in given.describe()


def test_management_api_failure_is_remembered_and_masked() -> None:
    port = _dead_port()
    api = ManagementAPI(f"http://127.0.0.1:{port}/api/", "u", "topsecret", "/", 0.3)
    with pytest.raises(ManagementAPIError) as err:
        api.pidbox_queues()
    assert "topsecret" not in str(err.value) and str(port) in str(err.value)
    assert api.failed is not None
    with pytest.raises(ManagementAPIError):  # not asked again
        api.queues()
