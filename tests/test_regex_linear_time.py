"""Every regular expression in core/ runs in linear time: none can be made to backtrack for seconds by a
hostile string (ReDoS). Patterns are found automatically, so a new one is tested the day it is added:
compiled patterns held by any core module (also inside tuples, lists and dicts), and every literal
pattern passed to re/re2 functions anywhere in core's source."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import time
from pathlib import Path

import pytest
import re2

import core
from core.ingest import enrich
from core.ingest.normalize import normalize
from tests.conftest import fixture_payload

CORE_DIR = Path(core.__file__).parent
BUDGET_S = 0.050
SIZE = 64 * 1024
# What attackers repeat to make a backtracking engine go quadratic: markup, quotes, SQL, shell, encodings.
ADVERSARIAL_UNITS = ["<", "'", '"', "UNION ", "union ", "$(", "..%2", "or '", "<svg ", "; ", " ", "/", "1", "-", "%"]
_RE_FUNCTIONS = {"compile", "search", "match", "fullmatch", "sub", "subn", "findall", "finditer", "split"}


def _adversarial_inputs(size: int) -> list[tuple[str, str]]:
    inputs = [(f"{unit!r} repeated", (unit * (size // len(unit) + 1))[:size]) for unit in ADVERSARIAL_UNITS]
    inputs.append(("'a'…'!'", "a" * (size - 1) + "!"))
    return inputs


def _is_pattern(value) -> bool:
    return isinstance(value, (re.Pattern, re2._Regexp))


def _held_patterns(value, depth: int = 0):
    if _is_pattern(value):
        yield value
    elif depth < 3 and isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            yield from _held_patterns(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _held_patterns(item, depth + 1)


def _core_modules() -> list[str]:
    names = ["core"] + [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    # Alembic's env.py and revision files run only inside an upgrade; their source is still scanned below.
    return [n for n in names if not n.endswith("__main__") and ".migrations." not in n]


def _flags(node: ast.expr | None) -> int | None:
    """re flags written as re.I / re.IGNORECASE | re.S …; None if not a literal we can read."""
    if node is None:
        return 0
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
        return int(getattr(re, node.attr))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _flags(node.left), _flags(node.right)
        return None if left is None or right is None else left | right
    return None


def _literal_patterns():
    """(where, compiled, how it is applied) for each re.X("literal") / re2.X("literal") call in core's source."""
    for path in sorted(CORE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)):
                continue
            engine, function = node.func.value.id, node.func.attr
            if engine not in ("re", "re2") or function not in _RE_FUNCTIONS or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, (str, bytes))):
                continue
            where = f"{path.relative_to(CORE_DIR.parent)}:{node.lineno}"
            # re.match / re.fullmatch try one start position; everything else scans the text like search.
            how = function if function in ("match", "fullmatch") else "search"
            if engine == "re2":
                yield where, re2.compile(first.value), how
                continue
            flag_node = node.args[-1] if function == "compile" and len(node.args) > 1 else None
            flag_node = next((k.value for k in node.keywords if k.arg == "flags"), flag_node)
            yield where, re.compile(first.value, _flags(flag_node) or 0), how


def _all_patterns() -> list[tuple[str, object, str]]:
    """(where, compiled, how) for every pattern in core; a compiled pattern held by a module may be used
    any way, so it is tried with search, the costliest."""
    found: dict[tuple, tuple[str, object, str]] = {}
    for name in _core_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            for pattern in _held_patterns(value):
                key = (type(pattern).__name__, pattern.pattern, getattr(pattern, "flags", 0), "search")
                found.setdefault(key, (f"{name}.{attr}", pattern, "search"))
    for where, pattern, how in _literal_patterns():
        key = (type(pattern).__name__, pattern.pattern, getattr(pattern, "flags", 0), how)
        found.setdefault(key, (where, pattern, how))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = _all_patterns()


def _seconds(pattern, how: str, text: str) -> float:
    if isinstance(pattern.pattern, bytes):
        text = text.encode("utf-8")
    apply = getattr(pattern, how)
    start = time.perf_counter()
    apply(text)
    return time.perf_counter() - start


def test_patterns_are_discovered_in_every_kind_of_place():
    names = {where for where, _pattern, _how in PATTERNS}
    # Module-level, inside a tuple of rules, and a literal passed to re.match inside a function.
    assert {"core.ingest.enrich._XSS", "core.ingest.enrich._CRAWLER_AI_RES", "core.api_docs.schema._INT"} <= names
    assert any(where.startswith("core/ingest/fields.py:") for where in names)
    assert len(PATTERNS) > 100


@pytest.mark.parametrize("where,pattern,how", PATTERNS, ids=[f"{where}-{how}" for where, _, how in PATTERNS])
def test_pattern_runs_in_linear_time_on_adversarial_input(where, pattern, how):
    # Growing sizes: a quadratic pattern fails at 4 KiB in a fraction of a second, not after minutes at 64 KiB.
    for size in (4 * 1024, 16 * 1024, SIZE):
        slow = [(name, round(seconds * 1000, 1)) for name, text in _adversarial_inputs(size)
                if (seconds := _seconds(pattern, how, text)) > BUDGET_S]
        assert slow == [], f"{where} took over {BUDGET_S * 1000:.0f} ms (ms per input) on {size} characters"


def test_a_body_of_16000_angle_brackets_is_enriched_in_milliseconds():
    payload = fixture_payload("django-02-post-json-user-id-and-metadata.json")
    payload["data"]["request"]["body"] = "<" * 16_000
    request = normalize(payload)
    start = time.perf_counter()
    enrich.enrich(request)
    assert time.perf_counter() - start < BUDGET_S
    assert request.threat_reasons == []
