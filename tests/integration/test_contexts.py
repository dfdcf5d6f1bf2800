"""Named clusters (``--context`` / ``CTL_CONTEXT``) against the real session cluster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.cli_runner import invoke


def _write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"CTL_CONFIG": str(path)}


@pytest.fixture
def no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_APP", "CTL_CONTEXT"):
        monkeypatch.delenv(var, raising=False)


def test_context_selects_the_cluster(cluster, no_cluster_env, tmp_path, monkeypatch) -> None:
    env = _write(
        tmp_path,
        f"""
[contexts.stage]
broker = "{cluster.broker_url}"
result_backend = "{cluster.backend_url}"
timeout = 3

[contexts.dead]
broker = "redis://127.0.0.1:1/0"
""",
    )
    res = invoke("--context", "stage", "status", "--json", env=env)
    assert res.exit_code == 0, res.stderr
    assert set(json.loads(res.stdout)) == set(cluster.hostnames)
    res = invoke("status", "--json", env={**env, "CTL_CONTEXT": "stage"})
    assert res.exit_code == 0 and set(json.loads(res.stdout)) == set(cluster.hostnames)
    # the environment beats the context, and says so
    res = invoke("status", env={**env, "CTL_CONTEXT": "stage",
                                "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})  # fmt: skip
    assert res.exit_code == 3
    assert "CELERY_BROKER_URL from the environment overrides the broker of context 'stage'" in (
        res.stderr
    )
    # a flag beats both
    res = invoke("-b", cluster.broker_url, "--context", "dead", "status", "--json", env=env)
    assert res.exit_code == 0


def test_read_only_context_cannot_be_made_writable(cluster, no_cluster_env, tmp_path) -> None:
    env = _write(
        tmp_path,
        """
default_context = "prod"
[contexts.prod]
broker_url_env = "PROD_BROKER_URL"
read_only = true
""",
    )
    env["PROD_BROKER_URL"] = cluster.broker_url
    tid = str(uuid.uuid4())
    for extra in ({}, {"CTL_READ_ONLY": "0"}):
        res = invoke("revoke", tid, env={**env, **extra})
        assert res.exit_code == 2 and "read-only" in res.stderr
    res = invoke("status", "--json", env=env)  # the default context, broker from $PROD_BROKER_URL
    assert res.exit_code == 0 and set(json.loads(res.stdout)) == set(cluster.hostnames)


def test_contexts_listing_is_masked(no_cluster_env, tmp_path) -> None:
    env = _write(
        tmp_path,
        """
default_context = "a"
[contexts.a]
broker = "redis://:hunter2-secret@10.0.0.5:6379/0"
app = "proj"
[contexts.b]
broker_url_env = "B_BROKER"
read_only = true
timeout = 2.5
""",
    )
    res = invoke("contexts", "--json", env={**env, "B_BROKER": "amqp://u:pw-xyz@h//"})
    assert res.exit_code == 0, res.stderr
    assert "hunter2-secret" not in res.stdout and "pw-xyz" not in res.stdout
    doc = json.loads(res.stdout)
    assert doc["default"] == "a" and doc["path"] == env["CTL_CONFIG"]
    a, b = doc["contexts"]
    assert a["current"] is True and a["broker"].startswith("redis://") and a["app"] == "proj"
    assert b["broker"] == "$B_BROKER" and b["read_only"] is True and b["timeout"] == 2.5
    res = invoke("contexts", env=env)
    assert res.exit_code == 0 and "hunter2-secret" not in res.stdout + res.stderr
    assert "2 context(s) in" in res.stderr


@pytest.mark.parametrize(
    ("text", "args", "fragment"),
    [
        ("[contexts.a]\nbroker = 'redis://x'\n", ["--context", "b"], "no context 'b'"),
        ("[contexts.a]\nbrokr = 'redis://x'\n", ["--context", "a"], "unknown key(s) brokr"),
        ("[contexts.a\n", ["--context", "a"], "not valid TOML"),
        ("[contexts.a]\nread_only = 'yes'\n", ["--context", "a"], "read_only must be true or false"),
        ("[contexts.a]\ntimeout = -1\n", ["--context", "a"], "timeout must be a positive number"),
        ("[contexts.a]\nbroker_url_env = 'NOPE_UNSET'\n", ["--context", "a"], "$NOPE_UNSET, which is not set"),
        ("default_context = 'z'\n[contexts.a]\n", [], "default_context 'z' is not a context"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_exit_2(no_cluster_env, tmp_path, text, args, fragment) -> None:
    env = _write(tmp_path, text)
    res = invoke(*args, "status", env=env)
    assert res.exit_code == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], res.stderr


def test_no_config_file_means_no_context(no_cluster_env, tmp_path) -> None:
    res = invoke("contexts", env={"CTL_CONFIG": str(tmp_path / "missing.toml")})
    assert res.exit_code == 1 and "0 context(s)" in res.stderr
