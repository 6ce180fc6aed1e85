"""Check a tool call's arguments against the tool's JSON Schema (jsonschema), with light coercion.

Models emulating calls in text sometimes write `"3"` for an integer or `"true"` for a boolean: such a value
is coerced when the schema says so and the string reads cleanly as that type, then the whole object is
validated again. Anything else that fails the schema is refused with the validator's own message.

jsonschema (with referencing and rpds, about 4 MiB per process) is imported by the first request that
declares tools, so a worker that serves none never holds it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class SchemaInvalid(ValueError):
    """A tool's `parameters` is not a valid JSON Schema."""


def schema_check(schema: Mapping[str, Any]) -> None:
    """Raise SchemaInvalid (with the validator's reason) if `schema` is not a usable JSON Schema."""
    if not isinstance(schema, Mapping):
        raise SchemaInvalid("parameters must be a JSON Schema object.")
    if not isinstance(schema.get("$schema", ""), str):
        raise SchemaInvalid("$schema must be a string.")
    from jsonschema import exceptions as schema_errors
    from jsonschema import validators
    from referencing.exceptions import Unresolvable

    try:
        validator = validators.validator_for(schema)
        validator.check_schema(schema)
        next(validator(schema).iter_errors({}), None)  # a top-level $ref that leads nowhere shows here
    except schema_errors.SchemaError as error:
        raise SchemaInvalid(error.message) from None
    except Unresolvable as error:  # never fetched: refs to other documents are not followed
        raise SchemaInvalid(f"unresolvable $ref: {error}") from None


def arguments_problem(arguments: dict[str, Any], schema: Mapping[str, Any]) -> str | None:
    """Validate in place (coercing clean string scalars where that makes them valid); None when valid (or when
    the schema cannot be followed), else the validator's reason."""
    if not schema:
        return None
    from jsonschema import exceptions as schema_errors
    from jsonschema import validators
    from referencing.exceptions import Unresolvable

    validator = validators.validator_for(schema)(schema)
    try:
        error = schema_errors.best_match(validator.iter_errors(arguments))
        if error is None:
            return None
        if _coerce(arguments, schema):
            error = schema_errors.best_match(validator.iter_errors(arguments))
            if error is None:
                return None
    except Unresolvable:
        return None  # a $ref deep inside that leads nowhere: the arguments cannot be checked, so pass as sent
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{error.message} (at {where})" if where else error.message


def _coerce(arguments: dict[str, Any], schema: Mapping[str, Any]) -> bool:
    """Turn "3" into 3, "true" into true, "[1]" into [1] where the property's schema asks for that type."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return False
    changed = False
    for key, value in list(arguments.items()):
        wanted = properties.get(key, {}).get("type") if isinstance(properties.get(key), Mapping) else None
        if isinstance(value, str) and isinstance(wanted, str):
            coerced = _scalar_from_string(value, wanted)
            if coerced is not _NO_VALUE:
                arguments[key] = coerced
                changed = True
    return changed


_NO_VALUE = object()
_JSON_TYPES = {"integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}


def _scalar_from_string(text: str, wanted: str) -> Any:
    if wanted not in _JSON_TYPES:
        return _NO_VALUE
    try:
        value = json.loads(text.strip())
    except ValueError:
        return _NO_VALUE
    if isinstance(value, bool) and wanted != "boolean":
        return _NO_VALUE  # True is an int to Python, never to a schema
    if wanted == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, _JSON_TYPES[wanted]) else _NO_VALUE
