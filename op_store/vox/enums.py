"""Rust-style enums whose variants carry data: subclass :class:`VoxEnum`.

A unit-only ``enum.Enum`` already maps to a vox Enum. For variants that carry data, declare the
variants in the body of a ``VoxEnum`` subclass, in wire order (variant index = declaration position)::

    class Shape(VoxEnum):
        Empty = Variant()                 # unit variant:     Shape.Empty()
        Circle = Variant(F64)             # newtype variant:  Shape.Circle(1.5)        -> .value
        Segment = Variant(I32, I32)       # tuple variant:    Shape.Segment(0, 10)     -> ._0, ._1
        Point = Variant(x=I32, y=I32)     # struct variant:   Shape.Point(x=1, y=2)
        class Rect:                       # struct variant with defaults or methods
            w: U32
            h: U32 = 1

Every ``Variant(...)`` and every class defined in the body (whose name does not start with ``_``) is
a variant. After the class statement each variant is a frozen dataclass *subclass of the enum*, so
``isinstance(Shape.Circle(1.5), Shape)`` holds, values compare by value, and ``match`` works
(``case Shape.Segment(a, b):``). The enum class itself cannot be instantiated, nor subclassed.

Generic enums subclass ``typing.Generic`` too (``class VoxError(VoxEnum, Generic[E]): User =
Variant(E)``); annotate uses as ``VoxError[MyError]``. The schema is an Enum named by the class
(``__vox_name__`` overrides it), with the class's type parameters. Forward references may be strings
(``Variant("Expr", "Expr")``); they resolve in the enum's module, where the enum's own name is bound.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

# Names a dataclass generates; stripped from a nested class that was already a dataclass, since the
# variant is re-created as a frozen dataclass.
_DATACLASS_GENERATED = frozenset(
    {
        "__dataclass_fields__",
        "__dataclass_params__",
        "__init__",
        "__repr__",
        "__eq__",
        "__hash__",
        "__match_args__",
        "__setattr__",
        "__delattr__",
        "__getstate__",
        "__setstate__",
    }
)
_NEVER_COPIED = frozenset({"__dict__", "__weakref__", "__qualname__", "__module__"})


class _VariantSpec:
    __slots__ = ("fields", "types")

    def __init__(self, types: tuple[Any, ...], fields: dict[str, Any]) -> None:
        self.types = types
        self.fields = fields


def Variant(*types: Any, **fields: Any) -> Any:
    """Declare a variant: ``Variant()`` unit, ``Variant(T)`` newtype, ``Variant(T1, T2)`` tuple,
    ``Variant(a=T1, b=T2)`` struct. Returns ``Any`` so type checkers accept ``Shape.Circle(1.5)``."""
    if types and fields:
        raise TypeError("a variant has either positional types (tuple) or named fields (struct), not both")
    return _VariantSpec(types, fields)


class VoxEnum:
    """Base class of enums with data-carrying variants; see the module docstring."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if "__vox_enum__" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} is an enum; build one of its variants, e.g. {_example(cls)}")
        return object.__new__(cls)

    def __init_subclass__(cls, *, _vox_variant_of: type | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _vox_variant_of is not None:
            return
        for base in cls.__mro__[1:]:
            if base is not VoxEnum and isinstance(base, type) and issubclass(base, VoxEnum):
                raise TypeError(f"{cls.__name__}: a VoxEnum ({base.__name__}) cannot be subclassed")
        variants: list[type] = []
        for name, attr in list(cls.__dict__.items()):
            if isinstance(attr, _VariantSpec):
                if attr.fields:
                    kind, annotations = "struct", dict(attr.fields)
                elif len(attr.types) == 1:
                    kind, annotations = "newtype", {"value": attr.types[0]}
                elif attr.types:
                    kind, annotations = "tuple", {f"_{i}": t for i, t in enumerate(attr.types)}
                else:
                    kind, annotations = "unit", {}
                namespace: dict[str, Any] = {"__annotations__": annotations}
            elif (
                isinstance(attr, type)
                and not name.startswith("_")
                and attr.__qualname__ == f"{cls.__qualname__}.{name}"
            ):
                skip = _NEVER_COPIED | (_DATACLASS_GENERATED if dataclasses.is_dataclass(attr) else frozenset())
                namespace = {k: v for k, v in attr.__dict__.items() if k not in skip}
                namespace.setdefault("__annotations__", {})
                kind = "struct" if namespace["__annotations__"] else "unit"
            else:
                continue
            variant = _make_variant(cls, name, namespace, kind, len(variants))
            setattr(cls, name, variant)
            variants.append(variant)
        type.__setattr__(cls, "__vox_variants__", tuple(variants))


def _make_variant(enum_cls: type, name: str, namespace: dict[str, Any], kind: str, index: int) -> type:
    def fill(ns: dict[str, Any]) -> None:
        ns.update(namespace)
        ns["__module__"] = enum_cls.__module__
        ns["__qualname__"] = f"{enum_cls.__qualname__}.{name}"
        ns["__vox_enum__"] = enum_cls
        ns["__vox_kind__"] = kind
        ns["__vox_index__"] = index

    cls = types.new_class(name, (enum_cls,), {"_vox_variant_of": enum_cls}, fill)
    return dataclasses.dataclass(frozen=True)(cls)


def _example(cls: type) -> str:
    variants = cls.__dict__.get("__vox_variants__", ())
    return f"{cls.__name__}.{variants[0].__name__}(...)" if variants else f"{cls.__name__}.<Variant>(...)"


def is_enum_class(tp: object) -> bool:
    """True for a VoxEnum subclass that declares variants (not for a variant class)."""
    return isinstance(tp, type) and issubclass(tp, VoxEnum) and "__vox_variants__" in tp.__dict__


def is_variant_class(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, VoxEnum) and "__vox_enum__" in tp.__dict__


def variants_of(enum_cls: type) -> tuple[type, ...]:
    """The variant classes of ``enum_cls``, in wire order."""
    variants: tuple[type, ...] = enum_cls.__dict__["__vox_variants__"]
    return variants
