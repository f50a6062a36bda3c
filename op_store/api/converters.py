"""Path converters of the API's URLs: ids that cannot name a row never match (the catch-all then
answers a 404 problem), so they never reach the database."""

from __future__ import annotations


class SchemaHashConverter:
    """A schema hash in a URL: exactly 16 hex digits."""

    regex = "[0-9a-fA-F]{16}"

    def to_python(self, value: str) -> str:
        return value.lower()

    def to_url(self, value: str | int) -> str:
        return f"{value:016x}" if isinstance(value, int) else value.lower()


class OperationPkConverter:
    """An operation's primary key in a URL: decimal, within a BIGINT (anything else is a 404, not a
    database error)."""

    regex = "[0-9]{1,19}"
    maximum = 2**63 - 1

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.maximum:
            raise ValueError(value)  # no match: the catch-all answers 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)
