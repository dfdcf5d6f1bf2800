"""Issue 11.1: ``ctl -A NAME`` / ``CELERY_APP`` find exactly the app ``celery -A NAME`` finds.

Every case runs ``celery -A NAME report`` (a real ``celery`` process: it prints the
app's changed settings, and each fixture app sets ``task_default_queue`` to its own
name) side by side with ctl's lookup from the same directory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.errors import UsageError
from tests.cli_runner import invoke
from tests.integration.proj_cluster import LOOKUP_PATH, PROJ_PATH, proj_env

CELERY = str(Path(sys.executable).with_name("celery"))
CTL = str(Path(sys.executable).with_name("ctl"))

# spec -> the app Celery picks (asserted against `celery -A spec report` too)
CASES = {
    "lk_app": "lk_app.app",  # 1. NAME.app, although .celery and others exist
    "lk_celery": "lk_celery.celery",  # 2. NAME.celery
    "lk_any": "lk_any.worker_app",  # 3. any Celery attribute
    "lk_sub_app": "lk_sub_app.celery.app",  # 4. submodule NAME.celery: its app
    "lk_sub_celery": "lk_sub_celery.celery.celery",  # 5. its celery
    "lk_sub_any": "lk_sub_any.celery.jobs",  # 6. any app in it
    "lk_colon:second": "lk_colon.second",  # module:attribute
    "lk_colon.second": "lk_colon.second",  # module.attribute
    "lk_sub_app.celery:celery": "lk_sub_app.celery.celery",  # pkg.mod:attribute
    "lk_celery_module": "lk_celery_module.backend_app",  # `celery` is the library module
    # two rules disagree: the package has an app attribute AND proj/celery.py has
    # `app`; Celery's code tries the submodule first (its docs say the opposite)
    "lk_disagree": "lk_disagree.celery.app",
}


def celery_pick(spec: str, cwd: str = LOOKUP_PATH) -> str | None:
    """The app `celery -A spec` uses (its task_default_queue), or None if it failed."""
    out = subprocess.run(
        [CELERY, "-A", spec, "report"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**proj_env_base(), "CELERY_BROKER_URL": "memory://"},
    )
    if out.returncode != 0:
        return None
    m = re.search(r"^task_default_queue: '([^']+)'", out.stdout, re.M)
    assert m, out.stdout
    return m.group(1)


def proj_env_base() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


@pytest.fixture
def in_lookup_dir(monkeypatch: pytest.MonkeyPatch):
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    monkeypatch.chdir(LOOKUP_PATH)
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name.startswith("lk_"):
                del sys.modules[name]


def test_each_rule_matches_celery(in_lookup_dir) -> None:
    from console.core.settings import ClusterSettings

    for spec, expected in CASES.items():
        ours = ClusterSettings.resolve(app=spec, broker="memory://").app
        theirs = celery_pick(spec)
        assert theirs == expected, f"celery -A {spec}: {theirs}"
        assert ours.main == expected, f"ctl -A {spec}: {ours.main}, celery: {theirs}"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lk_none", "no Celery app found in module 'lk_none'"),
        ("lk_notapp:VALUE", "is a int, not a Celery app"),
        ("lk_no_such_module", "the module 'lk_no_such_module' was not found"),
        ("lk_broken", "No module named 'lk_missing_dependency_xyz'"),
        ("lk_colon:nope", "no Celery app found in module 'lk_colon:nope'"),
    ],
)
def test_no_app_is_one_line_exit_2_where_celery_fails_too(in_lookup_dir, spec, message) -> None:
    assert celery_pick(spec) is None
    out = subprocess.run(
        [CTL, "-A", spec, "status"],
        cwd=LOOKUP_PATH,
        capture_output=True,
        text=True,
        timeout=60,
        env={**proj_env_base(), "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"},
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "unreachable" not in out.stderr


def test_tutorial_package_whose_init_does_not_import_celery_py(proj_cluster) -> None:
    """`ctl -A proj` and `CELERY_APP=proj ctl` reach the same workers as `celery -A proj`."""
    from tests.integration.proj_cluster import APPS

    base = proj_env(proj_cluster)
    celery = subprocess.run(
        [CELERY, "-A", "proj", "inspect", "active_queues", "--json"],
        cwd=PROJ_PATH,
        capture_output=True,
        text=True,
        timeout=60,
        env=base,
    )
    assert celery.returncode == 0, celery.stderr
    theirs = json.loads(celery.stdout)
    for argv, env in (
        ([CTL, "-A", "proj"], base),
        ([CTL], {**base, "CELERY_APP": "proj"}),
    ):
        ours = subprocess.run(
            [*argv, "inspect", "active-queues", "--json"],
            cwd=PROJ_PATH,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert ours.returncode == 0, ours.stderr
        doc = json.loads(ours.stdout)
        assert {h: sorted(q["name"] for q in r) for h, r in doc.items()} == {
            h: sorted(q["name"] for q in r) for h, r in theirs.items()
        }
    assert APPS.exists()


def test_load_app_errors_are_usage_errors(in_lookup_dir) -> None:
    from console.core.settings import load_app

    with pytest.raises(UsageError, match="not found"):
        load_app("lk_no_such_module")
    with pytest.raises(UsageError, match="invalid app name"):
        load_app("lk app")
    res = invoke("-A", "lk_none", "status")
    assert res.exit_code == 2
