"""docker-compose.yml and the Dockerfile, checked without Docker.

The compose file must parse, describe the cluster the README promises
(redis:7, two workers, beat, an interactive console built from this repo) and
every command in it must name something real: ``celery -A sample_proj ...``
needs an importable module with a Celery app and a real sub-command,
``ctl ...`` needs the console script and the sub-command, ``python -m X``
needs module X.  PyYAML is not a dependency: when it is missing, a small
parser for the YAML subset the compose file uses does the job (and rejects
anything outside that subset, so the file stays checkable).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BROKER = "redis://redis:6379/0"
BACKEND = "redis://redis:6379/1"


# -- a parser for the YAML subset of docker-compose.yml ----------------------
class YamlSubsetError(ValueError):
    pass


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == "\\" and quote == '"':
                out.append(ch)
                continue
            if ch == quote and not (quote == '"' and i and line[i - 1] == "\\"):
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _scalar(text: str, lineno: int) -> Any:
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {lineno}: flow list must be JSON-style: {exc}") from None
        if not isinstance(value, list):
            raise YamlSubsetError(f"line {lineno}: not a list")
        return value
    if text == "{}":
        return {}
    if text.startswith("{") or text.startswith(("&", "*", "!", "|", ">")):
        raise YamlSubsetError(f"line {lineno}: unsupported YAML construct: {text[:20]}")
    if text.startswith('"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {lineno}: bad double-quoted string: {exc}") from None
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise YamlSubsetError(f"line {lineno}: bad single-quoted string")
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def parse_yaml_subset(source: str) -> Any:
    """Block mappings / sequences of scalars, JSON-style flow lists, ``{}``."""
    lines: list[tuple[int, int, str]] = []
    for lineno, raw in enumerate(source.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {lineno}: tab indentation")
        text = _strip_comment(raw)
        if text.strip():
            lines.append((lineno, len(text) - len(text.lstrip(" ")), text.strip()))
    pos = 0

    def block(indent: int) -> Any:
        nonlocal pos
        if pos >= len(lines):
            return None
        is_seq = lines[pos][2].startswith("- ") or lines[pos][2] == "-"
        result: Any = [] if is_seq else {}
        while pos < len(lines):
            lineno, ind, text = lines[pos]
            if ind < indent:
                break
            if ind > indent:
                raise YamlSubsetError(f"line {lineno}: unexpected indentation")
            if is_seq:
                if not text.startswith("- "):
                    raise YamlSubsetError(f"line {lineno}: expected a '- ' item")
                item = text[2:]
                if re.match(r"^[\w.-]+:(\s|$)", item):
                    raise YamlSubsetError(f"line {lineno}: mappings inside lists are not supported")
                result.append(_scalar(item, lineno))
                pos += 1
                continue
            match = re.fullmatch(r'([\w.-]+|"[^"]+"):(?:\s+(.*))?', text)
            if not match:
                raise YamlSubsetError(f"line {lineno}: expected 'key: value': {text[:40]}")
            key = match.group(1).strip('"')
            if key in result:
                raise YamlSubsetError(f"line {lineno}: duplicate key {key!r}")
            pos += 1
            if match.group(2) is not None and match.group(2) != "":
                result[key] = _scalar(match.group(2), lineno)
            elif pos < len(lines) and lines[pos][1] > ind:
                result[key] = block(lines[pos][1])
            else:
                result[key] = None
        return result

    doc = block(lines[0][1] if lines else 0)
    if pos != len(lines):
        raise YamlSubsetError(f"line {lines[pos][0]}: unexpected dedent")
    return doc


def load_compose() -> dict[str, Any]:
    text = COMPOSE.read_text(encoding="utf-8")
    subset = parse_yaml_subset(text)
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return subset
    full = yaml.safe_load(text)
    assert full == subset, "the YAML subset parser disagrees with PyYAML"
    return full


# -- the parser itself ---------------------------------------------------------
def test_subset_parser_reads_what_it_should() -> None:
    doc = parse_yaml_subset(
        'a:\n  b: "x # not a comment"  # a comment\n  c: ["p", "q"]\n'
        "  d:\n    - one\n    - 2\n  e: true\n  f: {}\n  g: 'it''s'\n"
    )
    assert doc == {
        "a": {
            "b": "x # not a comment",
            "c": ["p", "q"],
            "d": ["one", 2],
            "e": True,
            "f": {},
            "g": "it's",
        }
    }


@pytest.mark.parametrize(
    "bad",
    ["a:\n  b: 1\n   c: 2\n", "a: &x 1\n", "a: [oops\n", "a: 1\na: 2\n", "a:\n  - b: 1\n"],
)
def test_subset_parser_rejects_what_it_cannot_check(bad: str) -> None:
    with pytest.raises(YamlSubsetError):
        parse_yaml_subset(bad)


# -- the compose file ----------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose.get("services")
    assert isinstance(services, dict) and services, "no services"
    return services


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _services(compose).items() if "build" in s}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    assert isinstance(cmd, list) and all(isinstance(c, str) for c in cmd), (
        f"command must be an exec-form list: {cmd!r}"
    )
    return cmd


def test_cluster_shape(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert services["redis"]["image"] == "redis:7"
    workers = [s for s in services.values() if "worker" in s.get("command", [])]
    assert len(workers) >= 2
    hostnames = [c[c.index("-n") + 1] for c in (_command(s) for s in workers)]
    assert len(set(hostnames)) == len(hostnames), f"duplicate worker names: {hostnames}"
    assert all("-E" in _command(s) for s in workers), "workers must send events"
    assert [s for s in services.values() if "beat" in s.get("command", [])], "no beat service"
    console = services["console"]
    assert console.get("tty") is True and console.get("stdin_open") is True
    assert _command(console)[0] == "ctl" and "console" in _command(console)


def test_app_services_are_built_here_and_point_at_redis(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    assert {"console", "beat"} <= set(apps)
    for name, service in apps.items():
        assert service["build"] == ".", name
        assert (ROOT / service["build"] / "Dockerfile").exists()
        env = service.get("environment") or {}
        assert env.get("CELERY_BROKER_URL") == BROKER, name
        assert env.get("CELERY_RESULT_BACKEND") == BACKEND, name
        deps = service.get("depends_on") or []
        for dep in deps:
            assert dep in _services(compose), f"{name} depends on unknown {dep}"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in _services(compose).items():
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source!r} not declared"


def _console_scripts() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]["scripts"]


def _check_celery(argv: list[str]) -> None:
    from celery import Celery

    from console.core.settings import load_app

    assert "-A" in argv, f"celery without -A: {argv}"
    module = argv[argv.index("-A") + 1]
    app = load_app(module)
    assert isinstance(app, Celery)
    sub = argv[argv.index("-A") + 2]
    assert sub in {"worker", "beat", "inspect", "events", "flower"}, f"unknown sub-command {sub}"
    if sub == "worker" and "-Q" in argv:
        queues = argv[argv.index("-Q") + 1].split(",")
        routed = {r.get("queue") for r in (app.conf.task_routes or {}).values()}
        assert {q for q in routed if q} <= set(queues), "a routed queue has no consumer"


def _check_ctl(argv: list[str]) -> None:
    from typer.testing import CliRunner

    scripts = _console_scripts()
    assert argv[0] in scripts, f"no console script {argv[0]!r} in pyproject"
    module, _, func = scripts[argv[0]].partition(":")
    assert callable(getattr(importlib.import_module(module), func))
    words = [a for a in argv[1:] if not a.startswith("-")]
    sub = [w for w in words if w != "sample_proj"][0]
    import cli.main

    cli.main._register()
    result = CliRunner().invoke(cli.main.app, [sub, "--help"])
    assert result.exit_code == 0, f"`ctl {sub}` is not a command: {result.output[-500:]}"


def _check_python_m(argv: list[str]) -> None:
    module = argv[argv.index("-m") + 1]
    assert importlib.util.find_spec(module) is not None, f"no module {module}"
    if module == "console.demo.traffic":
        from console.demo.traffic import parse_args

        parse_args(argv[argv.index("-m") + 2 :])


def test_every_command_names_something_real(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in _app_services(compose).items():
        argv = _command(service)
        if argv[0] == "celery":
            _check_celery(argv)
        elif argv[0] in _console_scripts():
            _check_ctl(argv)
        elif argv[0] in ("python", "python3"):
            _check_python_m(argv)
        else:
            pytest.fail(f"{name}: unknown program {argv[0]!r}")
        checked += 1
    assert checked >= 4


# -- the Dockerfile ------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_is_sane() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copies = [rest.split() for op, rest in instructions if op == "COPY"]
    assert copies
    copied = set()
    for parts in copies:
        *sources, _dest = [p for p in parts if not p.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source missing: {src}"
            copied.add(src.rstrip("/"))
    runs = " ".join(rest for op, rest in instructions if op == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|$)", runs), "the image must `pip install .`"
    # everything the install needs is copied before it
    for pkg in ("pyproject.toml", "README.md", "console", "cli", "sample_proj"):
        assert pkg in copied, f"{pkg} is not copied into the image"
    # and the sources are not shadowed by a .dockerignore rule
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".git" in ignored and ".venv" in ignored
    assert not copied & set(ignored)


# -- the README's set-up commands and CI ----------------------------------------
def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert command.startswith(
            "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e "
        )


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = [c for c in _readme_commands() if "pytest" in c]
    assert len(test_command) == 1
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in ci
    # the command itself, unchanged, at the start of a line (only `|| rc=$?` after it)
    lines = [line for line in ci.splitlines() if line.startswith(test_command[0])]
    assert len(lines) == 1, "the README's test command is not in .ci/run verbatim"
    assert lines[0][len(test_command[0]) :].strip() in ("", "|| rc=$?")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_has_no_placeholders() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("TODO", "TBD", "FIXME", "XXX"):
        assert marker not in text, f"README still has a {marker} placeholder"
    # PENDING is a Celery task state the CLI reference must name; as a
    # placeholder it would stand alone, e.g. "(PENDING)" or "PENDING:"
    assert not re.search(r"\(PENDING\)|^PENDING\b|PENDING:", text, re.M), (
        "README has a PENDING placeholder"
    )
    for link in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (ROOT / link).exists(), f"README links to a missing file: {link}"


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: not an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_ui_libraries_are_pinned_exactly_and_constrained() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in project["dependencies"]}
    pins = _constraints()
    for name in ("textual", "rich", "typer"):
        spec = deps[name].replace(" ", "")
        assert re.fullmatch(rf"{name}==[\w.]+", spec), f"{name} is not pinned exactly: {spec}"
        assert pins[name] == spec.split("==")[1], (
            f"constraints.txt and pyproject disagree on {name}"
        )
    dev = [
        re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower()
        for d in project["optional-dependencies"]["dev"]
    ]
    for name in (*deps, *dev):
        assert name in pins, f"{name} is not in constraints.txt"
    assert "pip install -c constraints.txt ." in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_ci_runs_the_static_gates_before_the_tests() -> None:
    (test_command,) = [c for c in _readme_commands() if "pytest" in c]
    assert test_command.index("&& scripts/lint &&") < test_command.index("pytest")
    lint = (ROOT / "scripts" / "lint").read_text(encoding="utf-8")
    gates = ["gate ruff check .", "gate ruff format --check .", "gate mypy", "gate lint-imports"]
    for gate in gates:
        assert f"\n{gate}\n" in lint, f"scripts/lint does not run {gate!r}"
    assert "exit 1" in lint
    assert os.access(ROOT / "scripts" / "lint", os.X_OK)
