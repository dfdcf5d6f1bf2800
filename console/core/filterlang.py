"""The task filter language, one grammar for the console and the CLI.

::

    query  := term*                       terms are AND-ed
    term   := ["-"] (field op value | word)   "-" negates the term
    op     := ":" | ">" | "<" | ">=" | "<="
    value  := alt ("|" alt)*              any alternative may match
    alt    := text | "quoted text"

* Words match, case-insensitively, anywhere in the id, name, state, worker,
  args, kwargs, result or exception text.
* Text fields ``state name worker id args kwargs result exc queue`` match a
  substring (``state`` the whole state name: ``state:failure|retry``); ``*``
  and ``?`` in a value make it a glob over the whole field (``name:*.resize``).
* Time: ``since:10m`` / ``until:2h`` (``s m h d w``, combinable: ``1h30m``) or
  an ISO time (``since:2026-12-03T08:00``), on the time a task finished, else
  the time it was received.
* Numbers: ``runtime>5s`` (``ms s m h``; a bare number is seconds),
  ``retries>0``; ``:`` means equal.

An unknown field or a bad value raises :class:`FilterError`, whose message
names the term: a typo never silently matches nothing.  :func:`compile_filter`
returns a :class:`TaskFilter` that tests a :class:`Mapping` of task fields
(the keys of :data:`TEXT_FIELDS` plus ``received``, ``finished``, ``runtime``,
``retries``; times are epoch seconds).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from .errors import UsageError

TEXT_FIELDS = ("id", "name", "state", "worker", "args", "kwargs", "result", "exc", "queue")
WORD_FIELDS = ("id", "name", "state", "worker", "args", "kwargs", "result", "exc")
TIME_FIELDS = ("since", "until")
NUMBER_FIELDS = ("runtime", "retries")
FIELDS = TEXT_FIELDS + TIME_FIELDS + NUMBER_FIELDS
STATES = (
    "PENDING",
    "RECEIVED",
    "STARTED",
    "SUCCESS",
    "FAILURE",
    "RETRY",
    "REVOKED",
    "REJECTED",
)

GRAMMAR_HELP = (
    "words and field:value AND-ed; -term negates; a|b alternatives; "
    "fields: state name worker id args kwargs result exc queue; "
    "since:10m until:2h (or an ISO time); runtime>5s retries>0 (ops : > < >= <=); "
    "* ? glob a whole field; quote values with spaces"
)

_TERM = re.compile(
    r"""(?P<neg>-)?(?:(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?P<op>>=|<=|:|>|<))?(?P<value>(?:"[^"]*"|[^\s"])*)""",
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(UsageError):
    """A filter that cannot be understood (one line, names the bad term)."""


def parse_duration(text: str) -> float:
    """``"1h30m"`` -> 5400.0; a bare number is seconds. Raises ValueError."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value < 0 or value != value:
            raise ValueError(f"bad duration {text!r}")
        return value
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"bad duration {text!r} (use e.g. 30s, 10m, 1h30m, 2d)")
    return total


def parse_time(text: str, now: float) -> float:
    """A duration ago (``10m``) or an ISO time (naive = local time) -> epoch seconds."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"bad time {text!r} (use a duration like 10m or an ISO time like 2026-12-03T08:00)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # the terminal's local time zone
    return when.astimezone(UTC).timestamp()


def _unquote(value: str) -> str:
    return value.replace('"', "")


def _alternatives(value: str) -> list[str]:
    out: list[str] = []
    for part in re.findall(r'"[^"]*"|[^|]+', value):
        part = _unquote(part)
        if part:
            out.append(part)
    return out


def _text_of(task: Mapping[str, Any], key: str) -> str:
    value = task.get(key)
    if value is None:
        return ""
    return value.lower() if isinstance(value, str) else str(value).lower()


def _text_predicate(key: str, alts: list[str]) -> Predicate:
    globs = [a.lower() for a in alts if "*" in a or "?" in a]
    subs = [a.lower() for a in alts if not ("*" in a or "?" in a)]

    def match(task: Mapping[str, Any]) -> bool:
        text = _text_of(task, key)
        return any(s in text for s in subs) or any(fnmatchcase(text, g) for g in globs)

    return match


def _state_predicate(alts: list[str], term: str) -> Predicate:
    wanted = set()
    for alt in alts:
        state = alt.upper()
        if state not in STATES:
            raise FilterError(
                f"filter {term!r}: unknown state {alt!r} (one of {', '.join(STATES)})"
            )
        wanted.add(state)

    def match(task: Mapping[str, Any]) -> bool:
        return str(task.get("state") or "").upper() in wanted

    return match


def _word_predicate(alts: list[str]) -> Predicate:
    words = [a.lower() for a in alts]

    def match(task: Mapping[str, Any]) -> bool:
        texts = [_text_of(task, k) for k in WORD_FIELDS]
        return any(w in t for w in words for t in texts)

    return match


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ":": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def _number_predicate(key: str, op: str, alts: list[str], term: str) -> Predicate:
    limits: list[float] = []
    for alt in alts:
        try:
            limits.append(parse_duration(alt) if key == "runtime" else float(int(alt)))
        except ValueError:
            unit = " (e.g. 5s, 500ms, 2m)" if key == "runtime" else " (a whole number)"
            raise FilterError(f"filter {term!r}: bad number {alt!r}{unit}") from None
    compare = _COMPARE[op]

    def match(task: Mapping[str, Any]) -> bool:
        value = task.get(key)
        if not isinstance(value, int | float):
            return False
        return any(compare(float(value), limit) for limit in limits)

    return match


def _time_predicate(key: str, op: str, alts: list[str], term: str, now: float) -> Predicate:
    if op != ":" or len(alts) != 1:
        raise FilterError(f"filter {term!r}: use {key}:10m or {key}:2026-12-03T08:00")
    try:
        bound = parse_time(alts[0], now)
    except ValueError as exc:
        raise FilterError(f"filter {term!r}: {exc}") from None

    def match(task: Mapping[str, Any]) -> bool:
        when = task.get("finished") or task.get("received")
        if not isinstance(when, int | float):
            return False
        return when >= bound if key == "since" else when <= bound

    return match


@dataclass(frozen=True)
class Term:
    text: str
    negated: bool
    field: str | None  # None: a bare word
    predicate: Predicate

    def __call__(self, task: Mapping[str, Any]) -> bool:
        return self.predicate(task) != self.negated


@dataclass(frozen=True)
class TaskFilter:
    """A compiled query; ``TaskFilter.matches(task)``."""

    text: str
    terms: tuple[Term, ...]

    def matches(self, task: Mapping[str, Any]) -> bool:
        return all(term(task) for term in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms

    def bound(self, field: str) -> Term | None:
        """The first non-negated term on ``field`` (e.g. to pre-filter a scan)."""
        return next((t for t in self.terms if t.field == field and not t.negated), None)


def _terms(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:  # pragma: no cover - the pattern matches any non-space
            raise FilterError(f"filter: cannot read {text[pos:]!r}")
        if text[m.start() : m.end()].count('"') % 2:
            raise FilterError(f"filter {text[pos:]!r}: unclosed quote")
        out.append(text[m.start() : m.end()])
        pos = m.end()
    return out


def compile_filter(text: str, now: float) -> TaskFilter:
    """Parse ``text``; ``now`` (epoch seconds) anchors ``since:10m``. Raises FilterError."""
    if text.count('"') % 2:
        raise FilterError(f"filter {text!r}: unclosed quote")
    terms: list[Term] = []
    for raw in _terms(text):
        m = _TERM.fullmatch(raw)
        assert m is not None
        negated = bool(m.group("neg"))
        field, op, value = m.group("field"), m.group("op"), m.group("value") or ""
        if field is not None:
            field = field.lower()
        alts = _alternatives(value)
        if field is None:
            if not alts:
                if negated:
                    raise FilterError(f"filter {raw!r}: nothing after '-'")
                continue
            terms.append(Term(raw, negated, None, _word_predicate(alts)))
            continue
        if field not in FIELDS:
            raise FilterError(
                f"filter {raw!r}: unknown field {field!r} (fields: {', '.join(FIELDS)})"
            )
        if not alts:
            raise FilterError(f"filter {raw!r}: no value after {field}{op}")
        if field in NUMBER_FIELDS:
            pred = _number_predicate(field, op, alts, raw)
        elif op != ":":
            raise FilterError(
                f"filter {raw!r}: {field} takes ':' (only runtime and retries compare)"
            )
        elif field in TIME_FIELDS:
            pred = _time_predicate(field, op, alts, raw, now)
        elif field == "state":
            pred = _state_predicate(alts, raw)
        else:
            pred = _text_predicate(field, alts)
        terms.append(Term(raw, negated, field, pred))
    return TaskFilter(text, tuple(terms))
