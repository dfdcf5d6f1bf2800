"""cli.main.main(): how an aborted prompt and Ctrl-C end ``ctl``."""

from __future__ import annotations

import pytest
import typer

import cli.main


def _run(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli.main, "app", app)
    monkeypatch.setattr(cli.main, "_register", lambda: None)
    with pytest.raises(SystemExit) as info:
        cli.main.main(["boom"])
    return int(info.value.code or 0), capsys.readouterr().err


def test_abort_at_a_prompt_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # typer.confirm(..., abort=True) answered "no", or EOF at a prompt
    code, err = _run(monkeypatch, typer.Abort(), capsys)
    assert code == 130
    assert err.strip() == "ctl: aborted"


def test_ctrl_c_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(monkeypatch, KeyboardInterrupt(), capsys)
    assert code == 130
    assert "Traceback" not in err
