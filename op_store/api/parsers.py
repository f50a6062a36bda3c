"""The API's one request parser: JSON, strict whatever the host's DRF settings say."""

from __future__ import annotations

from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """DRF's JSON parser refusing ``NaN``/``Infinity`` always, and nesting deeper than Python's
    recursion limit with a 400 ``parse-error`` (``json`` raises ``RecursionError``, which DRF does
    not catch, so a 100 KB body of ``[`` would be a 500)."""

    strict = True

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
