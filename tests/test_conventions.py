"""House conventions of the suite itself: a test's name is a sentence stating the behaviour it pins, subject first
(`test_a_revoked_key_no_longer_verifies`), never `test_it_…` and never a bare noun (`test_export`).

A machine cannot tell a sentence from a long noun phrase; it catches the two shapes that crept in before: the
implied subject of `test_it_…` and names too short to say what is pinned (fewer than three words after `test_`).
"""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def badly_named_tests(source: str) -> list[tuple[int, str]]:
    """(line, name) of each test function in `source` whose name breaks the naming rule."""
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test_"):
            continue
        words = [word for word in node.name.removeprefix("test_").split("_") if word]
        if words[:1] == ["it"] or len(words) < 3:
            offenders.append((node.lineno, node.name))
    return offenders


def test_every_test_in_the_suite_is_named_as_a_sentence():
    offenders = [f"{path.relative_to(TESTS.parent)}:{line} {name}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for line, name in badly_named_tests(path.read_text(encoding="utf-8"))]
    assert not offenders, (
        "name each test as a sentence stating the behaviour it pins, subject first, at least three words after "
        "test_ and never test_it_… (e.g. test_a_revoked_key_no_longer_verifies):\n  " + "\n  ".join(offenders))


def test_the_naming_check_flags_it_names_and_bare_nouns_only():
    source = '''
def test_it_creates_an_account(): ...
def test_export(): ...
def test_pool_state(): ...
async def test_it(): ...
class TestGroup:
    def test_it_works(self): ...
def test_a_revoked_key_no_longer_verifies(): ...
def test_its_memory_is_bounded(): ...
def test_every_v1_route_is_throttled(): ...
def helper_it_x(): ...
'''
    assert [name for _, name in badly_named_tests(source)] == [
        "test_it_creates_an_account", "test_export", "test_pool_state", "test_it", "test_it_works"]
