"""Cluster selection: options, environment, -A modules, read-only flag."""

from __future__ import annotations

import pytest

from console.core.errors import UsageError
from console.core.settings import ClusterSettings, load_app


def test_options_override_environment(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://env:1/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://envb:1/0")
    s2 = ClusterSettings.resolve()
    assert s2.effective_broker_url == "redis://env:1/0"
    s = ClusterSettings.resolve(broker="redis://opt:2/0", result_backend="redis://optb:3/1")
    assert s.effective_broker_url == "redis://opt:2/0"
    # the app really connects to the explicit URLs, without touching os.environ
    assert s.app.connection_for_write().hostname == "opt"
    assert s.app.backend.connparams["host"] == "optb"
    import os

    assert os.environ["CELERY_BROKER_URL"] == "redis://env:1/0"


def test_bare_app_defaults_backend_to_broker(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    monkeypatch.delenv("CELERY_APP", raising=False)
    s = ClusterSettings.resolve(broker="redis://h:1/3")
    assert s.effective_backend_url == "redis://h:1/3"


def test_app_module_is_loaded_and_urls_override(monkeypatch):
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    s = ClusterSettings.resolve(app="sample_proj", broker="redis://x:9/0")
    assert s.app.main == "sample_proj"
    assert "sample_proj.tasks.add" in s.app.tasks
    assert s.effective_broker_url == "redis://x:9/0"


def test_unimportable_app_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot import app module"):
        load_app("no_such_module_xyz")
    with pytest.raises(UsageError, match="no Celery app"):
        load_app("json")


def test_read_only_from_environment(monkeypatch):
    monkeypatch.setenv("CTL_READ_ONLY", "1")
    assert ClusterSettings.resolve().read_only
    monkeypatch.setenv("CTL_READ_ONLY", "0")
    assert not ClusterSettings.resolve().read_only


def test_masked_broker_and_scrub_hide_password():
    s = ClusterSettings.resolve(broker="redis://:topsecret@h:6379/0")
    assert "topsecret" not in s.masked_broker
    assert "topsecret" not in s.scrub("cannot connect to redis://:topsecret@h:6379/0")
