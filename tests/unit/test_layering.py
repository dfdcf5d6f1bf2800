"""The cluster-access core and the CLI never import Textual.

``console/core`` is shared by the runbook CLI and the TUI; only
``console/ui`` may import ``textual`` (see docs/ARCHITECTURE.md).  Checked
twice: statically (every import statement of every core module) and
dynamically (what a fresh interpreter has in ``sys.modules`` after importing
the whole core, the CLI with every command module, and running
``ctl --help``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "console" / "core"
FORBIDDEN = "textual"


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _is_forbidden(module: str) -> bool:
    return module.split(".")[0] == FORBIDDEN


def test_core_has_modules_to_check() -> None:
    files = _core_files()
    assert len(files) >= 5, f"console/core looks empty: {files}"


def test_core_sources_never_import_textual() -> None:
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, module in _imported_modules(tree):
            if _is_forbidden(module):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    assert not offenders, "console/core must not import textual:\n" + "\n".join(offenders)


def test_static_check_catches_an_offender() -> None:
    """The checker itself: every spelling of the import is seen."""
    source = textwrap.dedent(
        """
        import os
        def later():
            import textual.app
            from textual import work
            import importlib; importlib.import_module("textual.widgets")
        """
    )
    modules = sorted(m for _, m in _imported_modules(ast.parse(source)) if _is_forbidden(m))
    assert modules == ["textual", "textual.app", "textual.widgets"]
    assert not _is_forbidden("textualize_not_textual")
    assert not _is_forbidden("console.core.textualish")


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
    print(json.dumps({
        "imported": imported,
        "help_code": code,
        "help_has_commands": "demo" in out.getvalue(),
        "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")),
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
    assert report["textual"] == [], f"textual was imported: {report['textual'][:5]}"


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
