"""Percent-encoded user names and passwords work on every path (issue 16.3).

A real redis-server with ``requirepass`` and an ACL user whose name and
password hold ``@``, ``%``, ``:`` and ``/``; real workers connect with the
percent-encoded URL (kombu decodes it), and so must every ctl command --
the plain-socket fast path included.  The password never shows on
stdout/stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from console.core.redis_server import EmbeddedRedis
from console.demo.cluster import LocalCluster
from tests.cli_runner import invoke

PASSWORD = "Zq9@SEC%RET:pw/x"
USER = "ops@team:a/b%c"
USER_PASSWORD = "P@ss:w/rd%41"


class AuthRedis(EmbeddedRedis):
    """An EmbeddedRedis whose URLs carry (percent-encoded) credentials."""

    def __init__(self, user: str | None, password: str) -> None:
        super().__init__(
            extra_args=[
                "--requirepass",
                PASSWORD,
                "--user",
                USER,
                "on",
                f">{USER_PASSWORD}",
                "~*",
                "&*",
                "+@all",
            ]
        )
        self.user = user
        self.password = password

    def url_for(self, db: int) -> str:
        user = quote(self.user, safe="") if self.user else ""
        return f"redis://{user}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        return self.url_for(0)


@pytest.fixture(scope="module", params=["requirepass", "acl-user"])
def auth_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    if request.param == "requirepass":
        server = AuthRedis(None, PASSWORD)
    else:
        server = AuthRedis(USER, USER_PASSWORD)
    server.start()
    c = LocalCluster(workers=("pct",), concurrency=1, redis=server)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        server.stop()


def _env(c: LocalCluster) -> dict[str, str]:
    return {"CELERY_BROKER_URL": c.broker_url, "CELERY_RESULT_BACKEND": c.backend_url}


def _no_secret(res, c: LocalCluster) -> None:
    server = c.redis
    assert server is not None
    for secret in (server.password, quote(server.password, safe="")):
        assert secret not in res.stdout and secret not in res.stderr


def test_url_really_is_percent_encoded(auth_cluster: LocalCluster) -> None:
    assert "%40" in auth_cluster.broker_url and "%25" in auth_cluster.broker_url
    assert "%3A" in auth_cluster.broker_url and "%2F" in auth_cluster.broker_url


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--json"],
        ["inspect", "ping", "--json"],
        ["inspect", "active", "--json"],
        ["inspect", "stats", "--json"],
        ["inspect", "registered", "--json"],
        ["inspect", "active-queues", "--json"],
        ["-A", "sample_proj", "status", "--json"],
        ["-A", "sample_proj", "inspect", "ping", "--json"],
    ],
)
def test_broadcast_commands(auth_cluster: LocalCluster, args: list[str]) -> None:
    res = invoke(*args, "--timeout", "5", env=_env(auth_cluster))
    assert res.exit_code == 0, res.stderr
    assert set(json.loads(res.stdout)) == set(auth_cluster.hostnames)
    _no_secret(res, auth_cluster)


def test_result_revoke_purge_and_events(auth_cluster: LocalCluster) -> None:
    from celery import Celery

    env = _env(auth_cluster)
    client = Celery("pct-client", broker=auth_cluster.broker_url, backend=auth_cluster.backend_url)
    client.conf.broker_write_url = client.conf.broker_read_url = auth_cluster.broker_url
    try:
        r = client.send_task("sample_proj.tasks.add", (2, 3))
        assert r.get(timeout=20) == 5
    finally:
        client.close()
    res = invoke("result", r.id, "--json", env=env)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["result"] == 5
    for args in (
        ["revoke", "0b5a3c1e-0000-4000-8000-000000000000", "--json"],
        ["revoke", "--tree", r.id, "--json"],
        ["purge", "--dry-run", "--json"],
        ["events", "--duration", "2.5", "-n", "1"],
    ):
        res = invoke(*args, env=env)
        assert "WRONGPASS" not in res.stderr and "NOAUTH" not in res.stderr, (args, res.stderr)
        assert res.exit_code in (0, 1), (args, res.stderr)
        _no_secret(res, auth_cluster)
    doc = json.loads(invoke("purge", "--dry-run", "--json", env=env).stdout)
    assert any(q["name"] == "celery" for q in doc["queues"])
    events = invoke("events", "--duration", "5", "-n", "1", env=env)
    assert events.exit_code == 0 and json.loads(events.stdout.splitlines()[0])["type"]


def test_wrong_password_is_masked_and_exit_3(auth_cluster: LocalCluster) -> None:
    server = auth_cluster.redis
    assert server is not None
    bad = auth_cluster.broker_url.replace(quote(server.password, safe=""), "nope%40x")
    res = invoke("status", env={"CELERY_BROKER_URL": bad})
    assert res.exit_code == 3
    assert "nope" not in res.stderr and "***" in res.stderr
