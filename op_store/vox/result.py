"""``Result[T, E]``, the vox ``Result`` enum, and its two values ``Ok(value)`` and ``Err(error)``.

``Result[int, str]`` is an annotation (schema: Enum "Result", params T and E, variants Ok = 0 and
Err = 1, each a newtype); a value is ``Ok(42)`` or ``Err("oops")``. Both are frozen dataclasses, so
they compare by value and work in ``match``::

    match result:
        case Ok(value): ...
        case Err(error): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

T = TypeVar("T")
E = TypeVar("E")


class Result(Generic[T, E]):
    """Annotation ``Result[T, E]``; not instantiable itself (build ``Ok`` or ``Err``)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Result:
            raise TypeError("Result is an annotation; build Ok(value) or Err(error) instead")
        return super().__new__(cls)

    def is_ok(self) -> bool:
        return isinstance(self, Ok)

    def is_err(self) -> bool:
        return isinstance(self, Err)


@dataclass(frozen=True, slots=True)
class Ok(Result[T, Any]):
    """The success variant (index 0) of ``Result``."""

    value: T

    def unwrap(self) -> T:
        return self.value


@dataclass(frozen=True, slots=True)
class Err(Result[Any, E]):
    """The error variant (index 1) of ``Result``."""

    error: E

    def unwrap(self) -> NoReturn:
        raise ValueError(f"called unwrap() on {self!r}")
