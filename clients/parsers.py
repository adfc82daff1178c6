"""The management API's JSON parser: DRF's, with nesting too deep for Python's parser a 400 rather than a 500."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONParser(JSONParser):  # noqa: F811 - same name as DRF's, so error messages and the schema read the same
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json's scanner recurses once per nesting level; thousands of `[` exhaust the stack.
            raise ParseError("JSON parse error - nested too deeply") from None
