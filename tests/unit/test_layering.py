"""The cluster-access core and the CLI never load Textual at runtime.

``console/core`` is shared by the runbook CLI and the TUI; only
``console/ui`` may import ``textual`` (see docs/ARCHITECTURE.md).  The
import statements are checked statically by the import-linter contracts in
pyproject.toml (``lint-imports``, run by .ci/run).  What a contract cannot
see is checked here: what a fresh interpreter has in ``sys.modules`` after
importing the whole core, the CLI with every command module, running
``ctl --help`` and running ``ctl status`` (against a dead broker).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, contextlib, io

    import console.core
    imported = []
    for info in pkgutil.walk_packages(console.core.__path__, "console.core."):
        importlib.import_module(info.name)
        imported.append(info.name)

    import cli.main
    cli.main._register()
    imported.extend(cli.main.COMMAND_MODULES)

    out = io.StringIO()
    sys.argv = ["ctl", "--help"]
    code = None
    with contextlib.redirect_stdout(out):
        try:
            cli.main.main()
        except SystemExit as exc:
            code = exc.code
    help_textual = sorted(m for m in sys.modules if m.split(".")[0] == "textual")

    # ctl status runs its command body (imports inside it) against a dead broker: exit 3
    err = io.StringIO()
    sys.argv = ["ctl", "--broker", "redis://127.0.0.1:1/0", "--connect-timeout", "0.2", "status"]
    status_code = None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            cli.main.main()
        except SystemExit as exc:
            status_code = exc.code
    print(json.dumps({
        "imported": imported,
        "help_code": code,
        "help_has_commands": "demo" in out.getvalue(),
        "help_textual": help_textual,
        "status_code": status_code,
        "status_err": err.getvalue(),
        "textual": sorted(m for m in sys.modules if m.split(".")[0] == "textual"),
    }))
    """
)


def test_core_and_cli_import_without_textual_at_runtime() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**_clean_env(), "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report["imported"]) >= 5
    assert report["help_code"] in (0, None)
    assert report["help_has_commands"], "ctl --help did not list the commands"
    assert report["help_textual"] == [], f"textual was imported: {report['help_textual'][:5]}"
    assert report["status_code"] == 3, report["status_err"]
    assert report["textual"] == [], f"ctl status imported textual: {report['textual'][:5]}"


def test_ctl_help_console_script_runs() -> None:
    ctl = Path(sys.executable).with_name("ctl")
    assert ctl.exists(), f"console script missing: {ctl} (pip install -e .)"
    proc = subprocess.run(
        [str(ctl), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo" in proc.stdout


def _clean_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env["NO_COLOR"] = "1"
    return env
