"""Hostile text is made inert; passwords never survive masking."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from console.core.sanitize import inert, mask_url, safe_text, scrub_secrets

HOSTILE = [
    "[bold red]alarm[/]",
    "[link=https://evil.example]click[/link]",
    "[@click=app.quit]x[/]",
    "\x1b[31mred\x1b[0m",
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b]52;c;SGVsbG8=\x07",  # OSC 52 clipboard write
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]0;pwned title\x07",  # window title
    "\u202eevil\u202c",  # right-to-left override
    "bell\x07 backspace\x08 nul\x00 del\x7f c1\x9b",
]


def _render(text) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="truecolor", width=200).print(text)
    return out.getvalue()


def test_control_characters_become_visible_escapes():
    assert safe_text("\x1b[31mred") == "\\x1b[31mred"
    assert safe_text("a\x07b") == "a\\x07b"
    assert safe_text("\u202eevil") == "\\u202eevil"
    assert safe_text("a\nb") == "a\nb"
    assert safe_text("a\nb", oneline=True) == "a\\nb"


def test_invalid_utf8_bytes_are_replaced():
    assert safe_text(b"ok\xff\xfe") == "ok\ufffd\ufffd"
    # lone surrogates (e.g. from surrogateescape) cannot reach the terminal
    assert "\udcff" not in safe_text("x\udcffy")


def test_truncation_is_marked_and_bounded():
    big = "x" * 10_000_000
    out = safe_text(big, 100)
    assert len(out) == 100 and out.endswith("…")


def test_markup_is_not_interpreted_by_rich():
    for value in HOSTILE:
        rendered = _render(inert(value))
        # no raw ESC from the data reaches the terminal except Rich's own SGR codes
        data_part = rendered.replace("\x1b[0m", "")
        assert "\x1b]" not in data_part
        assert "\x07" not in data_part
        assert "\u202e" not in data_part
    # markup text is printed literally
    assert "[bold red]alarm[/]" in _render(inert("[bold red]alarm[/]"))
    assert "[@click=app.quit]" in _render(inert("[@click=app.quit]x[/]"))


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_any_text_is_inert_and_encodable(value):
    out = safe_text(value, oneline=True)
    out.encode("utf-8")  # never raises
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_mask_url_hides_passwords():
    assert mask_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert mask_url("amqp://user:pa55@rabbit//") == "amqp://user:***@rabbit//"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"
    assert mask_url("redis://user@host/0") == "redis://user@host/0"
    masked = mask_url("redis://:a@h1:1/0;redis://:b@h2:2/0")
    assert ":a@" not in masked and ":b@" not in masked
    assert mask_url(None) == ""


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(
            blacklist_characters="@/:#?[]\n\r\t ", min_codepoint=33, max_codepoint=126
        ),
        min_size=4,
        max_size=20,
    )
)
def test_mask_url_never_leaks_generated_passwords(password):
    url = f"redis://user:{password}@host:6379/0"
    assert password not in mask_url(url).replace("user", "").replace("host", "").replace(
        "redis", ""
    )


def test_scrub_secrets_removes_password_from_messages():
    url = "redis://:hunter2@10.0.0.1:6379/0"
    msg = f"Error connecting to {url}: password hunter2 rejected"
    scrubbed = scrub_secrets(msg, url)
    assert "hunter2" not in scrubbed
    assert "***" in scrubbed


def test_scrub_removes_percent_decoded_password_too() -> None:
    url = "redis://:Zq9%40SECRET%2Fpw@host:6379/0"
    message = "AUTH failed for Zq9@SECRET/pw at redis://:Zq9%40SECRET%2Fpw@host:6379/0"
    out = scrub_secrets(message, url)
    assert "Zq9@SECRET/pw" not in out and "Zq9%40SECRET" not in out
    assert "redis://:***@host:6379/0" in out


def test_recording_drops_percent_decoded_password(tmp_path) -> None:
    from console.core.recording import Recorder, read_events

    url = "redis://:Zq9%40SECRET%2Fpw@host:6379/0"
    path = tmp_path / "rec.jsonl"
    rec = Recorder(path, secrets=[url])
    rec.write_batch([{"type": "task-failed", "exception": "bad password Zq9@SECRET/pw"}])
    rec.close()
    assert "Zq9@SECRET/pw" not in path.read_text()
    assert list(read_events(path))
