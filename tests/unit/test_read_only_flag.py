"""One strict parser for CTL_READ_ONLY in the CLI and the console (issue 16.4).

``CTL_READ_ONLY=y`` used to leave the CLI writable while the console (click's
own boolean parsing) went read-only; ``readonly`` / ``2`` / ``enabled`` left
both writable.  Now the usual true/false words are read the same way
everywhere, and anything else is an error (exit 2), never "writable".
"""

from __future__ import annotations

import socket

import pytest

from console.core.errors import UsageError
from console.core.settings import ClusterSettings, parse_flag
from tests.cli_runner import invoke

TRUE_WORDS = ["1", "true", "TRUE", "t", "yes", "y", "Y", "on", "enable", "enabled", " yes "]
FALSE_WORDS = ["", "0", "false", "f", "no", "n", "off", "disable", "disabled"]
BAD_WORDS = ["2", "readonly", "read-only", "maybe", "-1", "yess", "ja", "\x1b[31m"]


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("word", TRUE_WORDS)
def test_true_words(word: str) -> None:
    assert parse_flag(word, "CTL_READ_ONLY") is True


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_false_words(word: str) -> None:
    assert parse_flag(word, "CTL_READ_ONLY") is False


@pytest.mark.parametrize("word", BAD_WORDS)
def test_other_values_are_errors(word: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_flag(word, "CTL_READ_ONLY")
    assert "\x1b" not in err.value.message


@pytest.mark.parametrize("word", ["y", "t", "enabled", "on", "YES"])
@pytest.mark.parametrize(
    "args",
    [
        ["revoke", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["revoke", "--terminate", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["purge", "--yes"],
    ],
)
def test_cli_refuses_actions_for_every_true_word(word: str, args: list[str]) -> None:
    res = invoke(*args, env={"CTL_READ_ONLY": word, "CELERY_BROKER_URL": _dead_url()})
    assert res.exit_code == 2, res.output
    assert "read-only" in res.stderr


@pytest.mark.parametrize("word", ["2", "readonly", "maybe"])
@pytest.mark.parametrize(
    "args",
    [
        ["revoke", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["purge", "--yes"],
        ["status"],
        ["console", "--replay", "tests/data/demo_events.jsonl.gz"],
    ],
)
def test_cli_and_console_reject_unclear_values(word: str, args: list[str]) -> None:
    res = invoke(*args, env={"CTL_READ_ONLY": word, "CELERY_BROKER_URL": _dead_url()})
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "CTL_READ_ONLY" in lines[0] and "yes/no" in lines[0]


@pytest.mark.parametrize("word", TRUE_WORDS + FALSE_WORDS)
def test_console_and_cli_read_the_same_value(word: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.core.feed import StaticFeed
    from console.core.state import ClusterState
    from console.ui.app import create_app

    monkeypatch.setenv("CTL_READ_ONLY", word)
    cli_view = ClusterSettings.resolve().read_only
    console = create_app(None, StaticFeed(ClusterState()))
    assert console.read_only is cli_view is parse_flag(word, "CTL_READ_ONLY")
