"""Make untrusted text (task data, worker names) inert before display.

Anything that comes from a task (name, args, kwargs, result, exception,
traceback) or a worker (hostname, reply) is attacker-controlled.  Before it
reaches Rich, Textual or the terminal it goes through :func:`safe_text`, which

* decodes bytes as UTF-8 with replacement (invalid UTF-8 never reaches the tty),
* replaces C0/C1 control characters (ESC, BEL, CSI ...), DEL and Unicode
  bidi overrides / isolates with visible escapes (``\\x1b``, ``\\u202e``),
* optionally truncates to ``limit`` characters with a visible marker.

The result is plain ``str`` that must still be put into a ``rich.text.Text``
(never into a markup string): :func:`inert` does that.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from rich.text import Text

# C0 controls except TAB/LF, DEL, C1 controls, bidi controls, zero-width joiners
# used for spoofing, line/paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]"
)
_UNSAFE_ONELINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]"
)


# what JSON leaves raw but a terminal acts on or hides: DEL, C1 controls, bidi
# controls, zero-width and invisible format characters, line separators
_UNSAFE_IN_JSON = re.compile(
    "[\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


def json_inert(line: str) -> str:
    """A JSON text with every character a terminal would act on written as ``\\uXXXX``.

    JSON encoders escape C0 controls but leave DEL, C1 controls, bidi
    overrides and zero-width characters raw; the escaped form parses to the
    same document.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", line)


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def safe_text(value: Any, limit: int | None = None, *, oneline: bool = False) -> str:
    """Return ``value`` as printable, inert text (see module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        text = str(value)
    # lone surrogates (from surrogateescape decoding) cannot be encoded to the tty
    if limit is not None and len(text) > limit * 4:
        text = text[: limit * 4]
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    text = (_UNSAFE_ONELINE if oneline else _UNSAFE).sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def inert(value: Any, limit: int | None = None, *, oneline: bool = False, style: str = "") -> Text:
    """A Rich ``Text`` holding ``safe_text(value)``: never parsed as markup."""
    return Text(safe_text(value, limit, oneline=oneline), style=style, no_wrap=oneline)


def mask_url(url: str | None) -> str:
    """Return ``url`` with any password replaced by ``***``.

    ``redis://:secret@host:6379/0`` -> ``redis://:***@host:6379/0``.  Works on
    ``;``-separated failover lists too.  Never raises.
    """
    if not url:
        return ""
    if ";" in url:
        pieces = url.split(";")
        if all("://" in piece for piece in pieces):
            return ";".join(mask_url(piece) for piece in pieces)
    try:
        parts = urlsplit(url)
        if parts.password is None and "@" not in parts.netloc:
            return url
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else userinfo
        if parts.password is not None or ":" in userinfo:
            netloc = f"{user}:***@{hostinfo}"
        else:
            netloc = f"{user}@{hostinfo}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except Exception:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


def scrub_secrets(message: str, *urls: str | None) -> str:
    """Remove the passwords of ``urls`` from an arbitrary message."""
    for url in urls:
        if not url:
            continue
        parts = url.split(";")
        if not all("://" in part for part in parts):
            parts = [url]
        for part in parts:
            try:
                password = urlsplit(part).password
            except ValueError:
                password = None
            message = message.replace(part, mask_url(part))
            if password:
                # both as written in the URL and as sent to the server (percent-decoded)
                for secret in sorted({password, unquote(password)}, key=len, reverse=True):
                    if secret:
                        message = message.replace(secret, "***")
    return message
