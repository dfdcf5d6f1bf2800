"""``ast.literal_eval`` for text that comes from the cluster (event reprs), bounded.

Task data is hostile: a repr nested thousands of levels deep makes the parser hit
its recursion limit, and on CPython 3.11 that leaves the thread's AST recursion
counter wrong, so every later ``compile`` / ``ast.parse`` in the process fails with
``SystemError: AST constructor recursion depth mismatch``.  Text nested deeper than
:data:`MAX_DEPTH` (brackets counted, strings included: an overestimate) or longer
than the caller's cap is refused before it reaches the parser.
"""

from __future__ import annotations

import ast
from typing import Any

MAX_DEPTH = 100
_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of ``text`` (brackets inside strings count too)."""
    depth = deepest = 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in _CLOSE:
            depth -= 1
    return deepest


def literal(text: str, max_len: int = 1_000_000) -> Any:
    """The Python literal ``text`` denotes; ValueError for anything else (or too big/deep)."""
    if len(text) > max_len:
        raise ValueError(f"literal longer than {max_len:,} characters")
    if nesting_depth(text) > MAX_DEPTH:
        raise ValueError(f"literal nested deeper than {MAX_DEPTH} levels")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a literal: {type(exc).__name__}") from None


__all__ = ["MAX_DEPTH", "literal", "nesting_depth"]
