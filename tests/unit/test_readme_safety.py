"""The README's exit-code table and threat model say what the code does (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

from console.core import errors

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end != -1 else None]


def test_exit_code_table_lists_every_documented_code() -> None:
    table = _section("## Exit codes")
    listed = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert listed == codes, (listed, codes)
    from cli.app import EXIT_CODES_HELP

    for code in codes:
        assert re.search(rf"\b{code} ", EXIT_CODES_HELP), code


def test_safety_has_a_threat_model_naming_what_is_trusted_and_not() -> None:
    safety = _section("## Safety")
    assert "### Threat model" in safety
    assert "trusts the broker connection it was given" in safety
    for never in ("task data", "worker replies", "files in the working directory"):
        assert never in safety, never
