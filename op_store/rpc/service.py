"""Declaring an RPC service: a class whose public methods carry type hints in ``op_store.vox``'s vocabulary.

::

    class Ledger(Service):
        @rpc_method(error=LedgerError)
        def transfer(self, from_: str, to: str, amount: U64) -> Balance: ...

        @rpc_method(idempotent=True)
        def balance(self, account: str) -> Balance: ...

Every public function of the class (and its bases) is a method; ``@rpc_method`` only adds options.
Names are normalised with vox's ``kebab``: the service ``Ledger`` is ``ledger``, ``open_account`` is
``open-account``, and the method id is ``method_id(service, method)``. ``__vox_service__`` on the
class overrides the service name. Parameters become the argument tuple, in declaration order; the
return annotation is the ``Ok`` type ``T`` and ``error`` the user error type ``E`` (default
``typing.Never``), so the reply type is ``Result[T, VoxError[E]]``.

The same declaration serves the server (:mod:`op_store.rpc.site`) and the client
(:mod:`op_store.rpc.client`), so both sides derive identical method ids, codecs and schemas. No Django
import here.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Never, TypeVar, overload

from op_store.vox import Codec, Result, SchemaRegistry, TypeRef, codec_for, kebab, method_id, schema_for

from .errors import VoxError

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute ``@rpc_method`` sets on a function.
OPTIONS_ATTR = "__vox_rpc__"


@dataclass(frozen=True, slots=True)
class MethodOptions:
    """What ``@rpc_method(...)`` says about one method."""

    idempotent: bool = False
    error: Any = Never
    atomic: bool = True
    name: str | None = None
    exposed: bool = True


@overload
def rpc_method(fn: F, /) -> F: ...


@overload
def rpc_method(
    fn: None = None,
    /,
    *,
    idempotent: bool = False,
    error: Any = Never,
    atomic: bool = True,
    name: str | None = None,
    exposed: bool = True,
) -> Callable[[F], F]: ...


def rpc_method(
    fn: Any = None,
    /,
    *,
    idempotent: bool = False,
    error: Any = Never,
    atomic: bool = True,
    name: str | None = None,
    exposed: bool = True,
) -> Any:
    """Options of one service method.

    - ``idempotent``: safe to run again (a read, or a write that is naturally idempotent). Such
      calls bypass the operation store: no admission, nothing sealed, as vox does for methods whose
      retry policy is ``idem``.
    - ``error``: the user error type ``E``; the method raises ``UserError(value)`` to return
      ``Err(VoxError.User(value))``.
    - ``atomic``: run the method in a transaction on the store's database and seal its reply inside
      it, so its writes and its sealed reply commit together (and a ``UserError`` rolls its writes
      back). Turn it off for methods whose effects are outside the database and must not wait for a
      transaction, e.g. long calls to other services.
    - ``name``: the wire name (default: the Python name, kebab-cased).
    - ``exposed=False``: a public helper that is not an RPC method.
    """
    options = MethodOptions(idempotent, error, atomic, name, exposed)
    for flag, value in (("idempotent", idempotent), ("atomic", atomic), ("exposed", exposed)):
        if not isinstance(value, bool):
            raise TypeError(f"rpc_method({flag}=...) must be True or False, got {value!r}")

    def decorate(target: Any) -> Any:
        if not inspect.isfunction(target):
            raise TypeError(f"rpc_method decorates functions (service methods), not {target!r}")
        setattr(target, OPTIONS_ATTR, options)
        return target

    return decorate(fn) if fn is not None else decorate


class Service:
    """Optional base class of services: gives methods the Django request and the operation id.

    The server builds one instance per call with ``cls()`` and, for a ``Service``, sets ``request``
    (the ``HttpRequest``) and ``operation_id`` (None when the call carries none) before the call.
    A plain class works too; it just does not see them.
    """

    request: Any = None
    operation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: its Python name, annotation, default (``inspect.Parameter.empty`` if none) and JSON names."""

    name: str
    annotation: Any
    default: Any
    json_names: tuple[str, ...]

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True, eq=False)
class MethodSpec:
    """Everything both ends need to know about one method, with its codecs compiled once."""

    owner: type
    service: str
    wire_service: str
    name: str
    wire_name: str
    method_id: int
    params: tuple[Param, ...]
    signature: inspect.Signature
    ok_type: Any
    error_type: Any
    idempotent: bool
    atomic: bool
    args_type: Any = field(init=False)
    reply_type: Any = field(init=False)
    args_codec: Codec = field(init=False)
    reply_codec: Codec = field(init=False)
    args_root: TypeRef = field(init=False)
    reply_root: TypeRef = field(init=False)
    registry: SchemaRegistry = field(init=False)

    def __post_init__(self) -> None:
        args_type = tuple.__class_getitem__(tuple(p.annotation for p in self.params))
        reply_type = Result[self.ok_type, VoxError[self.error_type]]  # type: ignore[name-defined]
        where = f"{self.service}.{self.name}"
        try:
            args_root, registry = schema_for(args_type)
            reply_root, reply_registry = schema_for(reply_type)
            args_codec, reply_codec = codec_for(args_type), codec_for(reply_type)
        except TypeError as exc:
            raise TypeError(f"RPC method {where}: {exc}") from exc
        registry.update(reply_registry)
        for name, value in (
            ("args_type", args_type),
            ("reply_type", reply_type),
            ("args_codec", args_codec),
            ("reply_codec", reply_codec),
            ("args_root", args_root),
            ("reply_root", reply_root),
            ("registry", registry),
        ):
            object.__setattr__(self, name, value)

    @property
    def label(self) -> str:
        """``service.method`` in wire names: what the store records as the operation's method."""
        return f"{self.wire_service}.{self.wire_name}"

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The argument tuple of a Python call (defaults applied); ``TypeError`` like a wrong call."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments[p.name] for p in self.params)


@dataclass(frozen=True, eq=False)
class ServiceSpec:
    """A service class, its names and its methods by wire name."""

    cls: type
    name: str
    wire_name: str
    methods: dict[str, MethodSpec]

    def method(self, name: str) -> MethodSpec | None:
        """A method by its wire name or Python name, in any case style (``open_account``, ``OpenAccount``)."""
        return self.methods.get(kebab(name))


def service_name(cls: type) -> str:
    """The declared service name: ``__vox_service__`` on the class itself, else the class name."""
    return str(cls.__dict__.get("__vox_service__", cls.__name__))


def _functions(cls: type) -> dict[str, Any]:
    """Public functions of ``cls`` and its bases (not ``Service``/``object``), subclasses overriding."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, Service):
            continue
        for name, attr in klass.__dict__.items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(attr):
                found[name] = attr
            elif name in found:
                del found[name]  # overridden by something that is not a method
    return found


def _method_spec(cls: type, service: str, py_name: str, fn: Any) -> MethodSpec:
    options: MethodOptions = getattr(fn, OPTIONS_ATTR, None) or MethodOptions()
    where = f"{service}.{py_name}"
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"RPC method {where} is async; service methods must be synchronous functions")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise TypeError(f"RPC method {where}: cannot resolve its annotations: {exc}") from exc
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"RPC method {where} must be an instance method (def {py_name}(self, ...))")
    params: list[Param] = []
    json_names: set[str] = set()
    for p in parameters[1:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"RPC method {where}: *args and **kwargs cannot be sent over the wire")
        if p.name not in hints:
            raise TypeError(f"RPC method {where}: parameter {p.name!r} needs a type annotation")
        names = (p.name,) if p.name.rstrip("_") in ("", p.name) else (p.name, p.name.rstrip("_"))
        if json_names & set(names):
            raise TypeError(f"RPC method {where}: parameter names {names} collide with another parameter")
        json_names.update(names)
        params.append(Param(p.name, hints[p.name], p.default, names))
    if "return" not in hints:
        raise TypeError(f"RPC method {where} needs a return annotation (-> None for no value)")
    ok_type = hints["return"]
    return MethodSpec(
        owner=cls,
        service=service,
        wire_service=kebab(service),
        name=py_name,
        wire_name=kebab(options.name or py_name),
        method_id=method_id(service, options.name or py_name),
        params=tuple(params),
        signature=signature.replace(parameters=parameters[1:]),
        ok_type=type(None) if ok_type is None else ok_type,
        error_type=options.error,
        idempotent=options.idempotent,
        atomic=options.atomic,
    )


@functools.cache
def describe(cls: type) -> ServiceSpec:
    """The :class:`ServiceSpec` of a service class (computed once per class); ``TypeError`` if it is unfit."""
    if not isinstance(cls, type):
        raise TypeError(f"a service is a class, got {cls!r}")
    name = service_name(cls)
    if not kebab(name):
        raise TypeError(f"service {cls.__qualname__} has an empty name")
    methods: dict[str, MethodSpec] = {}
    for py_name, fn in _functions(cls).items():
        options: MethodOptions | None = getattr(fn, OPTIONS_ATTR, None)
        if options is not None and not options.exposed:
            continue
        spec = _method_spec(cls, name, py_name, fn)
        if spec.wire_name in methods:
            other = methods[spec.wire_name].name
            raise TypeError(
                f"service {name}: methods {other!r} and {py_name!r} both have the wire name {spec.wire_name!r}"
            )
        methods[spec.wire_name] = spec
    if not methods:
        raise TypeError(f"service {name} declares no methods (public functions with type hints)")
    return ServiceSpec(cls, name, kebab(name), methods)


#: The reply type of a method the server does not know (vox: ``Result<(), VoxError<Infallible>>``).
UNKNOWN_METHOD_REPLY = Result[None, VoxError[Never]]
