"""The task list as a service: filter, sort and cut a window of up to 100,000 task rows.

Pure Python, no Textual.  A :class:`TaskViewer` lives next to the
ClusterState -- in the intake process for a LiveFeed, in-process for replay
and static feeds -- and is fed the same :class:`~console.core.feed.StateDelta`
stream a UI would get.  The UI never holds or sorts the 100k rows: it sends a
:class:`ViewSpec` (query, quick filter, sort, the rows it can show) and gets
back a :class:`TaskWindow` -- the matching count and just the rows on screen
(plus a margin).  A keystroke then costs the UI process one small message,
whatever the event rate (docs/ARCHITECTURE.md, "Task view").

Cost control: a re-sort / re-filter after *data* changes is ``fresh=True``
and the feed does it at a bounded rate (:class:`Throttle`); a *user* change
(typing, another sort, a quick filter) reuses the last sort of the same
column and only filters, and a query that extends the previous one only
filters the previous result.  Rows in a window are always the latest.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from itertools import compress, islice, repeat
from operator import contains, not_
from typing import Any

from .filterlang import FilterError, TaskFilter, Term, compile_filter
from .sanitize import safe_text
from .state import TaskRow

# TaskRow field positions (console/core/state.py TaskRow; the UI's cells read rows by
# position, the viewer by attribute: a state's TaskRecord has the same attribute names)
(
    T_UUID,
    T_NAME,
    T_STATE,
    T_HOST,
    T_RECEIVED,
    T_STARTED,
    T_RUNTIME,
    T_RETRIES,
    T_ARGS,
    T_KWARGS,
    T_ROOT,
    T_PARENT,
    T_TS,
) = range(13)

TASK_STATES = (
    "PENDING",
    "RECEIVED",
    "STARTED",
    "SUCCESS",
    "FAILURE",
    "RETRY",
    "REVOKED",
    "REJECTED",
)
# quick filters: label -> states (None: everything)
QUICK_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "failed": frozenset({"FAILURE", "REJECTED"}),
    "retrying": frozenset({"RETRY"}),
    "revoked": frozenset({"REVOKED"}),
    "running": frozenset({"STARTED"}),
    "waiting": frozenset({"PENDING", "RECEIVED"}),
    "succeeded": frozenset({"SUCCESS"}),
}

# sortable task columns: key -> (title, field index)
TASK_SORTS: dict[str, tuple[str, int]] = {
    "timestamp": ("updated", T_TS),
    "received": ("received", T_RECEIVED),
    "started": ("started", T_STARTED),
    "runtime": ("runtime", T_RUNTIME),
    "name": ("name", T_NAME),
    "state": ("state", T_STATE),
    "worker": ("worker", T_HOST),
    "retries": ("retries", T_RETRIES),
    "uuid": ("id", T_UUID),
    "args": ("args", T_ARGS),
}

FIELD_FILTERS = {"state": T_STATE, "name": T_NAME, "worker": T_HOST, "id": T_UUID, "args": T_ARGS}
#: the attribute of each TaskRow position (rows and the state's records share them)
ATTR = TaskRow._fields

# seconds without a word searched after which a state's viewer drops the filter text
HAY_IDLE_S = 60.0

# a new word with more matches than this is answered in two steps (TaskViewer.quick_window):
# at that density the first screenful is found within a few thousand rows of the last order
QUICK_SORT_MAX = 2_000


@dataclass(frozen=True)
class ViewSpec:
    """What the UI wants to see: the list parameters and the rows it can show.

    ``offset``/``limit``: the slice of the filtered, sorted list wanted
    (``limit=0``: no rows, just keep the view warm).  ``cursor``: a task id
    whose position the UI wants to know (its cursor follows a task, not a
    line).  ``seq`` numbers requests so late answers can be told apart.
    ``words``: the filter input is open (a word search is coming: the feed may
    build the filter text ahead of the first key, :meth:`ViewHost.prepare`).
    """

    query: str = ""
    quick: str = "all"
    sort: str = "timestamp"
    reverse: bool = True
    offset: int = 0
    limit: int = 0
    cursor: str | None = None
    seq: int = 0
    words: bool = False

    def same_list(self, other: ViewSpec | None) -> bool:
        """Same filter / sort (the rows differ only by the slice)."""
        return other is not None and (self.query, self.quick, self.sort, self.reverse) == (
            other.query,
            other.quick,
            other.sort,
            other.reverse,
        )


@dataclass
class TaskWindow:
    """The answer to a ViewSpec: a slice of the task list and its size."""

    spec: ViewSpec = field(default_factory=ViewSpec)
    total: int = 0  # tasks tracked
    matched: int = 0  # tasks matching the filter
    offset: int = 0  # index of rows[0] in the filtered list
    rows: list[Any] = field(default_factory=list)  # TaskRow
    cursor_index: int | None = None  # where spec.cursor is in the filtered list (None: not in it)
    #: the query could not be understood (console/core/filterlang.py): no rows, this message
    error: str | None = None

    def same_content(self, other: TaskWindow | None) -> bool:
        return other is not None and (
            self.spec,
            self.total,
            self.matched,
            self.offset,
            self.cursor_index,
            self.rows,
        ) == (other.spec, other.total, other.matched, other.offset, other.cursor_index, other.rows)


def _cut(text: str | None) -> str | None:
    """args / kwargs as a TaskRow carries them (state.task_row)."""
    return text[:199] + "…" if text is not None and len(text) > 200 else text


def _hay_text(r: Any) -> str:
    """What the filter searches: the text as displayed (control characters escaped), lower case.
    ``r``: a TaskRow or a state's TaskRecord."""
    text = f"{r.uuid} {r.name} {r.state} {r.hostname} {_cut(r.args)} {_cut(r.kwargs)}"
    if not text.isprintable():
        text = safe_text(text, oneline=True)
    return text.lower()


_PLAIN_WORD = re.compile(r'[^\s"|*?:<>=-][^\s"|:<>=]*')
_PLAIN_FIELD = re.compile(r'(name|worker|id|args|kwargs):[^\s"|*?]+')
# fields the live rows lack: refused (never silently zero matches)
_NOT_LIVE = ("result", "exc", "queue")


def _plain(term: str) -> bool:
    """A positive word without alternatives or quotes: a substring of the filter text."""
    return _PLAIN_WORD.fullmatch(term) is not None


def _kind(term: str) -> str | None:
    """The field of a plain positive substring term (``name:add``), "" for a plain word,
    None for anything else (negation, alternatives, globs, numbers, times, state)."""
    if _plain(term):
        return ""
    if _PLAIN_FIELD.fullmatch(term) is not None:
        return term.partition(":")[0]
    return None


def _narrows(old: str, new: str) -> bool:
    """True when every row matching ``new`` also matches ``old`` (only the last term grew,
    and it is a plain substring term: ``-word`` or ``runtime<5`` widen as they grow)."""
    if not old or not new.startswith(old):
        return False
    a, b = old.split(), new.split()
    if len(a) != len(b) or a[:-1] != b[:-1] or old.endswith(" "):
        return False
    kind = _kind(a[-1])
    return kind is not None and kind == _kind(b[-1])


class _RowFields(Mapping[str, Any]):
    """A TaskRow as the mapping filterlang's predicates read (``get`` is the fast path)."""

    __slots__ = ("row",)

    def __init__(self, row: Any) -> None:
        self.row = row

    def get(self, key: str, default: Any = None) -> Any:
        r = self.row
        if key == "finished":
            return r.timestamp if r.state in _FINAL else None
        attr = _ROW_FIELDS.get(key)
        return default if attr is None else getattr(r, attr)

    def __getitem__(self, key: str) -> Any:
        if key != "finished" and key not in _ROW_FIELDS:
            raise KeyError(key)
        return self.get(key)

    def __iter__(self) -> Iterator[str]:
        return iter((*_ROW_FIELDS, "finished"))

    def __len__(self) -> int:
        return len(_ROW_FIELDS) + 1


_FINAL = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})
_ROW_FIELDS = {
    key: ATTR[index]
    for key, index in {
        "id": T_UUID,
        "name": T_NAME,
        "state": T_STATE,
        "worker": T_HOST,
        "args": T_ARGS,
        "kwargs": T_KWARGS,
        "received": T_RECEIVED,
        "runtime": T_RUNTIME,
        "retries": T_RETRIES,
    }.items()
}


def _negated_word(term: str) -> str | None:
    """``-word`` (lower case) -> ``word``, for a plain word; else None."""
    return term[1:] if term.startswith("-") and _plain(term[1:]) else None


def _state_term(term: str) -> tuple[frozenset[str], bool] | None:
    """``state:a|b`` / ``-state:a`` (already checked by filterlang) -> (states, negated)."""
    negated = term.startswith("-")
    field, sep, value = term[negated:].partition(":")
    if field != "state" or not sep or '"' in value:
        return None
    return frozenset(v.upper() for v in value.split("|") if v), negated


def check_query(query: str, now: float | None = None) -> TaskFilter:
    """The query compiled by filterlang (the language of ``ctl tasks --filter``), with the
    fields the live task list cannot answer refused. Raises FilterError."""
    compiled = compile_filter(query, time.time() if now is None else now)
    for term in compiled.terms:
        if term.field in _NOT_LIVE:
            raise FilterError(
                f"filter {term.text!r}: the live task list has no {term.field} "
                "(search it in the result backend: ctl tasks --filter)"
            )
    return compiled


def _sort_key(attr: str) -> Callable[[Any], tuple[int, Any, Any]]:
    """None sorts first (ascending); mixed types never raise."""

    def key(row: Any) -> tuple[int, Any, Any]:
        value = getattr(row, attr, None)
        if value is None:
            return (0, 0, row.uuid)
        if isinstance(value, int | float):
            return (1, value, row.uuid)
        return (2, str(value).lower(), row.uuid)

    return key


class TaskViewer:
    """The task rows, their filter text, and cached sorted / filtered id lists.

    ``state`` (a ClusterState): the rows are the state's own records, read by
    attribute (no copy); :meth:`apply` only learns from a delta what changed,
    and a window's rows are built by ``state.task_row``.  Without a state the
    viewer keeps the TaskRows deltas bring (tests, tools).

    The filter text (one lower-cased string per task, ~150 B) exists only while
    words are searched: built when the filter input opens, in steps between event
    batches (:meth:`prepare_haystack`), or at the latest by the first query with a
    plain word (~0.1-0.3 s at 100,000 tasks); :meth:`apply` only notes which tasks
    changed, and their texts are redone between event batches while the filter is
    open, else by the next search; dropped once no word was searched for
    ``HAY_IDLE_S`` seconds.
    """

    def __init__(self, state: Any = None) -> None:
        self.state = state
        # uuid -> TaskRecord (the state's, in its arrival order) or TaskRow (kept here)
        self._own: dict[str, Any] = {}
        self.rows: Mapping[str, Any] = state.tasks if state is not None else self._own
        self._hay: dict[str, str] | None = None
        self._hay_dirty: set[str] = set()  # (with a state) ids whose filter text is stale
        self._hay_todo: list[str] | None = None  # a build in steps: ids still to do
        self._hay_used = 0.0  # time.monotonic() of the last search through it
        self.version = 0  # bumps on every row change
        self._sorted: tuple[tuple[int, str, bool], list[str]] | None = None
        # (sort version, quick, sort, reverse), query, ids, the row version they were cut at
        self._filtered: tuple[tuple[int, str, str, bool], str, list[str], int] | None = None
        self._found: tuple[int, str, list[str]] | None = None  # quick_window's matches, for ids()
        self._compiled: tuple[str, TaskFilter] | None = None

    # -- data -----------------------------------------------------------------
    def apply(self, delta: Any) -> bool:
        """Merge a StateDelta's task rows (with a state: note that they changed); True when
        any row changed."""
        if self.state is not None:
            ids = delta.changed
            changed = bool(delta.full or delta.tasks or ids or delta.removed)
            hay, dirty = self._hay, self._hay_dirty
            if hay is not None and (
                time.monotonic() - self._hay_used > HAY_IDLE_S
                or (self._hay_todo is None and len(dirty) > len(hay) // 2)
            ):
                # nobody searched words for a while (free it), or rebuilding is cheaper
                hay = self._hay = None
            if delta.full or hay is None:
                self._hay = self._hay_todo = None  # rebuilt when a word filter needs it
                dirty.clear()
            else:
                for uid in delta.removed or ():
                    hay.pop(uid, None)
                    dirty.discard(uid)
                dirty.update(ids)
                dirty.update(r.uuid for r in delta.tasks or ())
            if changed:
                self.version += 1
            return changed
        changed = False
        if delta.full:
            changed = bool(self._own or delta.tasks)
            self._own = {}
            self.rows = self._own
            self._hay = None
        rows, hay = self._own, self._hay
        for uid in delta.removed or ():
            if rows.pop(uid, None) is not None:
                changed = True
            if hay is not None:
                hay.pop(uid, None)
        # new ids enter in id order: ties in any sort then fall back to a deterministic
        # order (feeds build deltas from sets)
        new = [r if isinstance(r, TaskRow) else TaskRow(*r) for r in delta.tasks or ()]
        for r in sorted(new, key=operator.attrgetter("uuid")):
            uid = r.uuid
            rows[uid] = r
            if hay is not None:
                hay[uid] = _hay_text(r)
            changed = True
        if changed:
            self.version += 1
        return changed

    def haystack(self) -> dict[str, str]:
        """uuid -> the filter text of every row (built now if it was dropped)."""
        self._hay_used = time.monotonic()
        hay = self._hay
        if hay is None:
            self._hay_dirty.clear()
            hay = self._hay = {u: _hay_text(r) for u, r in self.rows.items()}
        else:
            if self._hay_todo is not None:  # a build in steps: the rest now
                self.prepare_haystack(None)
            self.prepare_haystack(None)  # the texts of tasks that changed since
        return hay

    def _redo_texts(self, ids: Iterable[str]) -> None:
        """The filter text of each of ``ids`` as the task is now (gone: dropped)."""
        hay, rows = self._hay, self.rows
        assert hay is not None
        for uid in ids:
            r = rows.get(uid)
            if r is None:
                hay.pop(uid, None)
            else:
                hay[uid] = _hay_text(r)

    def prepare_haystack(
        self, budget: float | None, stop: Callable[[], bool] | None = None
    ) -> bool:
        """Build the filter text in steps of at most ``budget`` seconds (None: all of it)
        ahead of a word search, sooner when ``stop()`` says so (checked every 1,000
        tasks); once built, bring the texts of tasks that changed since up to date the
        same way (at 20,000 events/s thousands a second: not on a keystroke's path).
        A call that finishes the build leaves those for the next.  True while some is
        left."""
        self._hay_used = time.monotonic()
        deadline = None if budget is None else time.perf_counter() + budget
        if self._hay is None:
            self._hay, self._hay_todo = {}, list(self.rows)
            self._hay_dirty.clear()
        todo, dirty = self._hay_todo, self._hay_dirty
        pending: Sized = todo if todo is not None else dirty  # the build first, then updates
        while pending:
            if todo is not None:
                chunk = todo[-1000:]
                del todo[-1000:]
            else:
                chunk = [dirty.pop() for _ in range(min(1000, len(dirty)))]
            self._redo_texts(chunk)
            if deadline is not None and (
                time.perf_counter() >= deadline or (stop is not None and stop())
            ):
                break
        if todo is None:
            return bool(dirty)
        if todo:
            return True
        self._hay_todo = None
        return False

    def row(self, uid: str) -> Any:
        """The TaskRow of ``uid`` (KeyError when it is gone)."""
        return self.state.task_row(uid) if self.state is not None else self.rows[uid]

    def _rows_of(self, ids: Iterable[str]) -> list[Any]:
        rows, row = self.rows, self.row
        return [row(u) for u in ids if u in rows]

    def __len__(self) -> int:
        return len(self.rows)

    # -- the list -----------------------------------------------------------
    def _sort(self, rows: list[Any], sort: str, reverse: bool) -> list[str]:
        """Ids of ``rows`` (in arrival order) sorted by ``sort``; unknown values last."""
        index = TASK_SORTS.get(sort, TASK_SORTS["timestamp"])[1]
        if index == T_RUNTIME:  # a running task sorts by its time so far: stuck ones show
            return self._sort_runtime(rows, reverse)
        attr = ATTR[index]
        get = operator.attrgetter(attr)
        known = [r for r in rows if get(r) is not None]
        nulls = [r for r in rows if get(r) is None] if len(known) != len(rows) else []
        try:  # stable: ties keep the (deterministic) arrival order, see apply()
            known.sort(key=get, reverse=reverse)
        except TypeError:  # mixed types
            known.sort(key=_sort_key(attr), reverse=reverse)
        uuid = operator.attrgetter("uuid")
        ids = list(map(uuid, known))
        ids.extend(map(uuid, nulls))  # unknown values last, whatever the direction
        return ids

    def _sort_runtime(self, rows: list[Any], reverse: bool) -> list[str]:
        now = time.time()

        def key(r: Any) -> float | None:  # a TaskRow or the state's TaskRecord
            rt, started = r.runtime, r.started
            if isinstance(rt, int | float):
                return float(rt)
            if r.state == "STARTED" and isinstance(started, int | float):
                return now - started
            return None

        keyed = [(key(r), r.uuid) for r in rows]
        known = [k for k in keyed if k[0] is not None]
        known.sort(key=operator.itemgetter(0), reverse=reverse)
        return [u for _, u in known] + [u for k, u in keyed if k is None]

    def sorted_ids(self, sort: str, reverse: bool) -> list[str]:
        """Every task id in ``sort`` order (cached per row version; :meth:`ids` reuses
        an older one itself when a user change should not pay for a re-sort)."""
        key = (self.version, sort, reverse)
        cached = self._sorted
        if cached is not None and cached[0] == key:
            return cached[1]
        ids = self._sort(list(self.rows.values()), sort, reverse)
        self._sorted = (key, ids)
        return ids

    def _keep(
        self, ids: list[str] | None, terms: Sequence[Term], states: frozenset[str] | None
    ) -> list[str]:
        """The ids (None: every row, arrival order) in ``states`` matching every term."""
        rows = self.rows
        first = terms[0].text.lower() if terms and _plain(terms[0].text) else None
        words = any(
            _kind(text := term.text.lower()) == "" or _negated_word(text) is not None
            for term in terms
        )
        hay = self.haystack() if words else {}
        if ids is None:
            if states is not None:
                ids = [u for u, r in rows.items() if r.state in states]
            elif first is not None:  # the common case: one pass over the haystacks
                terms = terms[1:]
                ids = list(compress(hay.keys(), map(contains, hay.values(), repeat(first))))
            else:
                ids = list(rows)
        elif states is not None:
            ids = [u for u in ids if (r := rows.get(u)) is not None and r.state in states]
        elif first is not None:
            # one pass in C that also drops ids evicted since ``ids`` was cut (no haystack: "")
            terms = terms[1:]
            ids = list(compress(ids, map(contains, map(hay.get, ids, repeat("")), repeat(first))))
        else:
            ids = list(filter(rows.__contains__, ids))
        for term in terms:
            text = term.text.lower()
            kind = _kind(text)
            if kind == "":  # (map/compress: the loop runs in C, ~2x a list comprehension)
                ids = list(
                    compress(ids, map(contains, map(hay.get, ids, repeat("")), repeat(text)))
                )
            elif kind is not None:
                attr, value = ATTR[FIELD_FILTERS[kind]], text.partition(":")[2]
                ids = [
                    u
                    for u in ids
                    if (r := rows.get(u)) is not None
                    and value in str(getattr(r, attr) or "").lower()
                ]
            elif (negated := _negated_word(text)) is not None:  # -word: not in the text
                ids = list(filter(rows.__contains__, ids))  # (evicted since the ids were cut)
                found = map(contains, map(hay.get, ids, repeat("")), repeat(negated))
                ids = list(compress(ids, map(not_, found)))
            elif (state_term := _state_term(text)) is not None:
                wanted, negate = state_term
                ids = [
                    u
                    for u in ids
                    if (r := rows.get(u)) is not None and (r.state in wanted) is not negate
                ]
            else:  # alternatives, globs, numbers, times: filterlang decides (one reused view)
                view = _RowFields(())
                keep = []
                for u in ids:
                    r = rows.get(u)
                    if r is None:
                        continue
                    view.row = r
                    if term(view):
                        keep.append(u)
                ids = keep
        return ids

    def compiled(self, query: str) -> TaskFilter:
        """``query`` compiled (cached while it is the same text). Raises FilterError."""
        cached = self._compiled
        if cached is not None and cached[0] == query:
            return cached[1]
        compiled = check_query(query)
        self._compiled = (query, compiled)
        return compiled

    def ids(self, spec: ViewSpec, fresh: bool = True) -> list[str]:
        """Task ids after quick filter and text filter, in sort order.

        * A filter (words, ``field:value``, a quick filter): one pass over
          every row, then sort only the matches (a narrow filter on 100k rows
          sorts a few hundred).
        * No filter: with ``fresh`` a full sort; without (a user change while
          data flows) the last sort of the same column, minus evicted ids.
        * Not ``fresh`` and the same parameters as last time: the last result,
          minus evicted ids (the order of a data refresh held back).
        * A query that extends the previous one (typing) only filters the
          previous result.
        """
        raw = spec.query.strip()
        query = raw.lower()
        terms = list(self.compiled(raw).terms)  # FilterError: window() reports it
        states = QUICK_FILTERS.get(spec.quick)
        rows = self.rows
        cached = self._filtered
        sort_key = (spec.quick, spec.sort, spec.reverse)
        if (
            cached is not None
            and cached[0][1:] == sort_key
            and (not fresh or cached[0][0] == self.version)
        ):
            order_version = cached[0][0]
            if cached[1] == query:
                if cached[3] == self.version:
                    return cached[2]
                ids = list(filter(rows.__contains__, cached[2]))  # drop ids evicted since
                self._filtered = (cached[0], query, ids, self.version)
                return ids
            if _narrows(cached[1], query):
                ids = self._keep(cached[2], terms[-1:], None)
                self._filtered = (cached[0], query, ids, self.version)
                return ids
        sorted_cache = self._sorted
        if terms or states is not None:
            # one pass over every row (in C for a word), then sort just the matches:
            # cheaper than filtering a sorted 100k list, and current
            found = self._found
            self._found = None
            if found is not None and found[:2] == (self.version, query) and states is None:
                matched = found[2]  # quick_window's pass over every row
            else:
                matched = self._keep(None, terms, states)
            ids = self._sort(
                [r for u in matched if (r := rows.get(u)) is not None], spec.sort, spec.reverse
            )
            order_version = self.version
        elif (
            not fresh
            and sorted_cache is not None
            and sorted_cache[0][1:] == (spec.sort, spec.reverse)
        ):
            order_version = sorted_cache[0][0]  # everything, in the last order: no sort
            ids = sorted_cache[1]
            if order_version != self.version:
                ids = self._keep(ids, [], None)  # drop ids evicted since the sort
        else:
            ids = self.sorted_ids(spec.sort, spec.reverse)
            order_version = self.version
        self._filtered = ((order_version, *sort_key), query, ids, self.version)
        return ids

    def quick_window(self, spec: ViewSpec) -> TaskWindow | None:
        """A first answer to a new one-word filter, before the full list is built.

        One pass in C over every row's filter text counts the matches.  Up to
        ``QUICK_SORT_MAX`` of them: None (sorting them is cheap, and
        :meth:`window` reuses the pass).  More: the rows are the first matches
        in the last sort's order, scanned lazily (at that density a screenful
        is a few hundred rows in), and the full filtered, sorted list follows
        (:meth:`window`), so a typed first character is painted without
        waiting for a sort of every match.  None as well when not applicable
        (several words, a field or quick filter, no earlier sort of this
        column, or a query the last result narrows: that one is cheap).
        """
        query = spec.query.strip().lower()
        terms = query.split()
        if len(terms) != 1 or not _plain(terms[0]) or QUICK_FILTERS.get(spec.quick) is not None:
            return None
        cached = self._filtered
        if (
            cached is not None
            and cached[0][1:] == (spec.quick, spec.sort, spec.reverse)
            and (cached[1] == query or _narrows(cached[1], query))
        ):
            return None
        sorted_cache = self._sorted
        if sorted_cache is None or sorted_cache[0][1:] != (spec.sort, spec.reverse):
            return None
        term, hay, rows = terms[0], self.haystack(), self.rows
        found = list(compress(hay.keys(), map(contains, hay.values(), repeat(term))))
        if len(found) <= QUICK_SORT_MAX:
            # few matches: sorting them is cheap, and scanning the sorted list for a
            # screenful of a rare word would cost more -- the full answer now (ids()
            # reuses this pass)
            self._found = (self.version, query, found)
            return None
        matched = len(found)
        ids = sorted_cache[1]
        first = list(
            islice(
                compress(ids, map(contains, map(hay.get, ids, repeat("")), repeat(term))),
                spec.offset + max(0, spec.limit),
            )
        )
        offset = min(spec.offset, max(0, len(first) - 1)) if first else 0
        cut = first[offset:]
        cursor_index = offset + cut.index(spec.cursor) if spec.cursor in cut else None
        return TaskWindow(
            spec=spec,
            total=len(rows),
            matched=matched,
            offset=offset,
            rows=self._rows_of(cut),
            cursor_index=cursor_index,
        )

    def window(self, spec: ViewSpec, fresh: bool = True) -> TaskWindow:
        """The rows ``spec`` asks for (``limit=0``: none), the counts, the cursor's place."""
        if spec.limit <= 0 and spec.cursor is None:  # a warm view nobody looks at: no work
            return TaskWindow(spec=spec, total=len(self.rows), matched=len(self.rows))
        try:
            ids = self.ids(spec, fresh)
        except FilterError as exc:
            return TaskWindow(spec=spec, total=len(self.rows), error=exc.message)
        rows = self.rows
        offset = max(0, min(spec.offset, max(0, len(ids) - 1)))
        cut = ids[offset : offset + max(0, spec.limit)]
        window_rows = self._rows_of(cut)
        cursor_index = None
        if spec.cursor is not None:
            try:
                cursor_index = cut.index(spec.cursor) + offset
            except ValueError:
                try:
                    cursor_index = ids.index(spec.cursor)
                except ValueError:
                    cursor_index = None
        return TaskWindow(
            spec=spec,
            total=len(rows),
            matched=len(ids),
            offset=offset,
            rows=window_rows,
            cursor_index=cursor_index,
        )


class Throttle:
    """Re-sorts after data changes at a bounded share of the time.

    ``due()``: may the next window be ``fresh``?  ``spent(seconds)``: after a
    fresh window that cost ``seconds``, wait ``ratio`` times that before the
    next (a 100k-row re-sort costs tens of ms: at most ~1/(1+ratio) of a core).
    Cheap re-sorts (under ``free`` seconds) are never held back.
    """

    def __init__(
        self, ratio: float = 8.0, free: float = 0.01, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.ratio, self.free, self.clock = ratio, free, clock
        self._next = 0.0

    def due(self) -> bool:
        return self.clock() >= self._next

    def defer(self, seconds: float) -> None:
        """No fresh window for ``seconds`` from now (or longer, if already held)."""
        self._next = max(self._next, self.clock() + seconds)

    def spent(self, seconds: float) -> None:
        self._next = self.clock() + self.ratio * seconds if seconds > self.free else 0.0


class ViewHost:
    """A feed's side of the task view: the viewer, the UI's latest spec, throttled refreshes.

    Created lazily on the first :meth:`request` (until then a feed sends task
    rows in its deltas, as before: tests and other consumers).  ``state``: the
    viewer reads the rows from that ClusterState (the feeds); else ``all_rows``
    returns every current TaskRow (the viewer's starting point, kept by the viewer).
    """

    def __init__(
        self,
        all_rows: Callable[[], list[Any]] | None = None,
        throttle: Throttle | None = None,
        hold: float = 0.0,
        quick: bool = False,
        *,
        state: Any = None,
    ) -> None:
        self.all_rows = all_rows
        self.state = state
        self.hold = hold
        self.quick = quick  # answer a new word filter in two steps (quick_window, then finish)
        self.viewer: TaskViewer | None = None
        self.spec: ViewSpec | None = None
        self.throttle = throttle or Throttle()
        self.last: TaskWindow | None = None
        self._stale = False  # a window was cut from an old sort since the rows last changed
        self._owed: ViewSpec | None = None  # a quick answer was sent: the full window follows
        self._held_until = 0.0  # (throttle clock) no data-tick window before this

    @property
    def active(self) -> bool:
        return self.viewer is not None

    @property
    def reads_state(self) -> bool:
        """The viewer reads the rows from the state: deltas need only the changed ids."""
        return self.viewer is not None and self.viewer.state is not None

    def request(self, spec: ViewSpec) -> TaskWindow:
        """A user change: answer at once (reusing the last sort when only data moved)."""
        if self.viewer is None:
            from types import SimpleNamespace

            self.viewer = TaskViewer(self.state)
            if self.state is None and self.all_rows is not None:
                self.viewer.apply(
                    SimpleNamespace(tasks=self.all_rows(), changed=(), removed=(), full=True)
                )
            self._stale = False
        old = self.spec
        self.spec = spec
        # the user is typing / scrolling: no re-sort for a moment (the next keystroke
        # must not wait behind one, and the rows should not jump under the cursor)
        self.throttle.defer(self.hold)
        # and no data-tick window either: while the user types, the UI paints only the
        # answers to what was typed (each repaint of the list costs the UI process a frame)
        self._held_until = self.throttle.clock() + self.hold
        if old is None or not spec.same_list(old):
            self._stale = True  # the next data tick re-sorts (and shows tasks that came in since)
        window = self.viewer.quick_window(spec) if self.quick else None
        self._owed = spec if window is not None else None
        if window is None:
            window = self.viewer.window(spec, fresh=False)
        self.last = window
        return window

    def prepare(self, budget: float, stop: Callable[[], bool] | None = None) -> bool:
        """Between event batches: while the filter input is open (``spec.words``), build a
        step of the filter text so the first key typed does not wait for all of it
        (``stop()``: a request is waiting, end the step).  True while work is left."""
        viewer, spec = self.viewer, self.spec
        if viewer is None or spec is None or not spec.words or viewer.state is None:
            return False
        return viewer.prepare_haystack(budget, stop)

    def finish(self) -> TaskWindow | None:
        """After a quick answer: the full window (None if nothing is owed or it is the same)."""
        spec, self._owed = self._owed, None
        if spec is None or self.viewer is None or spec is not self.spec:
            return None
        window = self.viewer.window(spec, fresh=False)
        if window.same_content(self.last):
            return None
        self.last = window
        return window

    def absorb(self, delta: Any) -> Any:
        """Take ``delta``'s task rows into the viewer; ``delta.window``: the refreshed
        window when it changed.  The rows are dropped from the delta (the UI gets
        the window instead)."""
        viewer, spec = self.viewer, self.spec
        if viewer is None or spec is None:
            return delta
        if viewer.apply(delta):
            self._stale = True
        delta.tasks, delta.changed, delta.removed = [], [], []
        window = self.refresh()
        if window is not None:
            delta.window = window
        return delta

    @property
    def due(self) -> bool:
        """A refresh is owed (rows changed since the last fresh window) and allowed now."""
        return self.viewer is not None and self._stale and self.throttle.due()

    def refresh(self) -> TaskWindow | None:
        """A fresh window if one is owed and allowed; None when nothing new to show."""
        viewer, spec = self.viewer, self.spec
        if viewer is None or spec is None or not self._stale:
            return None
        if self.hold and self.throttle.clock() < self._held_until:
            return None  # the user is typing: the rows follow once they stop (still stale)
        if self.throttle.due():
            t0 = time.perf_counter()
            window = viewer.window(spec, fresh=True)
            self.throttle.spent(time.perf_counter() - t0)
            self._stale = False
        else:  # between re-sorts: the same order, the rows as they are now
            window = viewer.window(spec, fresh=False)
        if window.same_content(self.last):
            return None
        self.last = window
        return window


__all__ = [
    "FIELD_FILTERS",
    "QUICK_FILTERS",
    "TASK_SORTS",
    "TASK_STATES",
    "TaskViewer",
    "TaskWindow",
    "Throttle",
    "ViewHost",
    "ViewSpec",
]
