"""The management API's JSON parser: DRF's, with nesting too deep for Python's parser a 400 rather than a 500."""

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json's scanner recurses once per nesting level; thousands of `[` exhaust the stack.
            raise ParseError("JSON parse error - nested too deeply") from None
