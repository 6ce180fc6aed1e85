"""Tool schemas are checked when the request comes in; arguments against them when a call comes out."""
from __future__ import annotations

import pytest

from completions.tool_arguments import SchemaInvalid, arguments_problem, schema_check

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
