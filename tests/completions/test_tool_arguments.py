"""Tool schemas are checked when the request comes in; arguments against them when a call comes out."""
from __future__ import annotations

import os

import pytest

from completions.tool_arguments import SchemaInvalid, arguments_problem, schema_check
from tests.script_run import assert_script_prints_ok

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["n"]}


@pytest.mark.parametrize("schema", [
    {"type": "nonsense"}, {"properties": {"a": {"pattern": "(["}}}, {"$schema": 5},
    {"$ref": "https://example.com/elsewhere.json"}, {"$ref": "#/$defs/missing"}, ["not", "an", "object"],
])
def test_unusable_schemas_are_refused_up_front(schema):
    with pytest.raises(SchemaInvalid):
        schema_check(schema)


def test_local_refs_are_followed():
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "integer"}}}
    schema_check(schema)
    assert "is not of type 'integer' (at a)" in arguments_problem({"a": "x"}, schema)
    assert arguments_problem({"a": 2}, schema) is None


def test_clean_strings_are_coerced_to_the_declared_type():
    arguments = {"n": "4", "ok": "true", "tags": '["a"]'}
    assert arguments_problem(arguments, SCHEMA) is None and arguments == {"n": 4, "ok": True, "tags": ["a"]}


@pytest.mark.parametrize("arguments", [{"n": "four"}, {"n": "true"}, {"n": "4.5"}, {}])
def test_what_cannot_be_coerced_is_reported(arguments):
    assert arguments_problem(arguments, SCHEMA) is not None


def test_an_empty_schema_accepts_anything():
    assert arguments_problem({"anything": [1]}, {}) is None


WORKER_SCRIPT = """
import sys
import gempool_site.wsgi  # what a worker loads: settings, apps, the WSGI stack
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

def load_views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            load_views(pattern.url_patterns)
        else:
            pattern.callback

load_views(get_resolver().url_patterns)
assert "jsonschema" not in sys.modules, "loaded with the app"
from completions.tool_arguments import schema_check
schema_check({"type": "object"})
assert "jsonschema" in sys.modules
print("ok")
"""


def test_a_worker_loads_jsonschema_with_the_first_tool_schema_not_with_the_app(tmp_path):
    env = {**os.environ, "GEMPOOL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "gempool_site.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    assert_script_prints_ok(WORKER_SCRIPT, env=env)
