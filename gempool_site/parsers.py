"""DRF's JSON parser, refusing two inputs with a 400 that would otherwise end as a 500 further in.

- Nesting deeper than Python's recursion limit: json raises RecursionError, which DRF does not catch.
- Lone UTF-16 surrogate escapes ("\\ud800"): valid JSON, but no UTF-8 text can hold them, so the database,
  the upstream query and the logs would all fail on the string later (after an upstream session was made).
"""
from __future__ import annotations

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant

# A \\uD800-\\uDFFF escape somewhere in the text: only then is the parsed data walked (rarely).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
TOO_DEEP = "JSON parse error - the document is nested too deeply."
LONE_SURROGATE = ("JSON parse error - a string holds a lone UTF-16 surrogate escape (such as \\ud800), "
                  "which is not valid Unicode text.")


def has_lone_surrogate(data: Any) -> bool:
    """True if any string (or object key) in decoded JSON holds an unpaired surrogate."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def may_hold_lone_surrogate(raw: bytes) -> bool:
    """A cheap pre-check on the raw text: without a surrogate escape there is nothing to walk."""
    return _SURROGATE_ESCAPE.search(raw) is not None


# DRF's parser builds a decoder and a stream reader for every body: a few microseconds a request, kept here.
_DECODERS = {True: json.JSONDecoder(parse_constant=strict_constant), False: json.JSONDecoder()}


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = stream.read() if stream is not None else b""
        encoding = get_encoding(parser_context or {})  # DRF's check: a text charset, else ParseError
        try:
            data = _DECODERS[bool(self.strict)].decode(raw.decode(encoding))
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        except ValueError as error:  # malformed JSON, NaN or Infinity (strict), or bytes the charset cannot decode
            raise ParseError(f"JSON parse error - {error}") from None
        if may_hold_lone_surrogate(raw) and has_lone_surrogate(data):
            raise ParseError(LONE_SURROGATE)
        return data
