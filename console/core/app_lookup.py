"""Find the Celery app of ``-A NAME`` / ``CELERY_APP`` exactly as ``celery -A NAME`` does.

The lookup itself is Celery's own :func:`celery.app.utils.find_app` (what
``celery/bin/celery.py`` calls), imported from the current directory first as
Celery does (``import_from_cwd``).  For ``-A proj`` it tries, in this order:

1. ``proj.app`` (if it is not a module);
2. ``proj.celery`` (if it is not a module);
3. when ``proj`` is a package: the submodule ``proj.celery``, looked up by the
   same rules (its ``app``, its ``celery``, any Celery app in it);
4. any attribute of ``proj`` that is a Celery app.

``proj:attr`` and ``proj.mod:attr`` (and ``proj.mod.attr``) name the object
directly.  Note that Celery's code tries the submodule (3) before scanning the
package's attributes (4); its documentation lists them the other way round.
We follow the code, so that ``ctl -A proj`` and ``celery -A proj`` always get the
same app.

Failures become one :class:`UsageError` line (exit 2), worded after Celery's.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from celery import Celery


def _clean(text: object, limit: int = 200) -> str:
    from .sanitize import safe_text

    return safe_text(str(text), limit, oneline=True)


def find_celery_app(spec: str) -> Celery:
    """The Celery app ``celery -A spec`` would use; UsageError (one line) if none."""
    from celery import Celery
    from celery.app.utils import find_app

    name = spec.strip()
    if not name or any(c.isspace() or ord(c) < 32 for c in name):
        raise UsageError(f"invalid app name {_clean(spec, 80)!r} (-A / CELERY_APP)")
    # modules loaded later (autodiscovered tasks, the config module) come from the
    # same place as the app: keep the current directory importable, as `celery` does
    # for the worker's whole life when run as `python -m celery`
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = name.partition(":")[0]
    try:
        found = find_app(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == name and ":" in name:
            # find_app falls back to importing "mod:attr" as a module name
            attr = name.partition(":")[2]
            raise UsageError(
                f"no Celery app found in module {_clean(name, 80)!r} (module "
                f"{_clean(module, 80)!r} has no attribute {_clean(attr, 80)!r})"
            ) from None
        if missing and (module == missing or module.startswith(missing + ".")):
            raise UsageError(
                f"cannot import app module {_clean(name, 80)!r}: the module "
                f"{_clean(missing, 80)!r} was not found"
            ) from None
        raise UsageError(
            f"cannot import app module {_clean(name, 80)!r}: ModuleNotFoundError: {_clean(exc)}"
        ) from None
    except AttributeError as exc:
        detail = str(exc.args[0]) if exc.args else str(exc)
        raise UsageError(
            f"no Celery app found in module {_clean(name, 80)!r} ({_clean(detail)})"
        ) from None
    except Exception as exc:
        raise UsageError(
            f"cannot import app module {_clean(name, 80)!r}: {type(exc).__name__}: {_clean(exc)}"
        ) from None
    if not isinstance(found, Celery):
        raise UsageError(
            f"no Celery app found in module {_clean(name, 80)!r} "
            f"({_clean(name, 80)} is a {type(found).__name__}, not a Celery app)"
        )
    return found
