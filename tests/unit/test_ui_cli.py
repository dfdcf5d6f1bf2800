"""``ctl console`` argument handling (the app itself is covered by the pilot tests)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app as cli_app
from cli.main import _register


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register()
    return CliRunner()


def test_missing_recording_is_a_usage_error(runner: CliRunner, tmp_path: Any) -> None:
    res = runner.invoke(cli_app, ["console", "--replay", str(tmp_path / "nope.jsonl.gz")])
    assert res.exit_code == 2
    assert "no such recording" in res.output


def test_malformed_broker_url_is_a_usage_error(runner: CliRunner) -> None:
    res = runner.invoke(cli_app, ["--broker", "redis://host:notaport/0", "console"])
    assert res.exit_code == 2, res.output


def test_console_options_are_documented(runner: CliRunner) -> None:
    res = runner.invoke(cli_app, ["console", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for option in (
        "--read-only",
        "--replay",
        "--speed",
        "--max-tasks",
        "--refresh",
        "CTL_READ_ONLY",
    ):
        assert option in res.output


def test_console_builds_the_app_read_only_from_env(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from console.ui import app as ui_app
    from tests.snapshots.events import write_recording

    built: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def fake_run(self: Any) -> None:
        built["read_only"] = self.read_only
        built["feed"] = type(self.feed).__name__
        built["label"] = self.cluster_label
        raise Stop

    monkeypatch.setattr(ui_app.ConsoleApp, "run", fake_run)
    monkeypatch.setattr("cli.commands.console_cmd._on_a_terminal", lambda: True)
    monkeypatch.setenv("CTL_READ_ONLY", "1")
    rec = write_recording(tmp_path / "r.jsonl.gz")
    res = runner.invoke(cli_app, ["console", "--replay", str(rec), "--speed", "0"])
    assert isinstance(res.exception, Stop), res.output
    assert built == {"read_only": True, "feed": "ReplayFeed", "label": "replay r.jsonl.gz"}
