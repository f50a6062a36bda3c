"""Server-side syntax colouring: JSON values and type tokens as escaped HTML spans.

Colouring on the server keeps the admin free of JavaScript and of any CDN; the classes are styled
by ``op_store/admin.css``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from op_store.display import Token

INDENT = "  "

#: Nesting deeper than this is cut (a decoded value can be arbitrarily deep).
MAX_DEPTH = 64


def _span(cls: str, text: str) -> str:
    return f'<span class="{cls}">{escape(text)}</span>'


def tokens_html(tokens: Iterable[Token]) -> SafeString:
    """Type tokens (see :mod:`op_store.display`) as ``<span class="t-...">`` runs."""
    return mark_safe("".join(escape(text) if cls == "ws" else _span(f"t-{cls}", text) for cls, text in tokens))


def _scalar(value: Any) -> str:
    if value is None:
        return _span("j-null", "null")
    if isinstance(value, bool):
        return _span("j-bool", "true" if value else "false")
    if isinstance(value, (int, float)):
        return _span("j-num", json.dumps(value))
    return _span("j-str", json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False))


def _render(value: Any, depth: int, out: list[str]) -> None:
    pad = INDENT * (depth + 1)
    end = INDENT * depth
    if depth >= MAX_DEPTH:
        out.append(_span("j-punct", "…"))
    elif isinstance(value, dict):
        if not value:
            out.append(_span("j-punct", "{}"))
            return
        out.append(_span("j-punct", "{") + "\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(pad + _span("j-key", json.dumps(str(key), ensure_ascii=False)) + _span("j-punct", ": "))
            _render(item, depth + 1, out)
            out.append((_span("j-punct", ",") if i < len(value) - 1 else "") + "\n")
        out.append(end + _span("j-punct", "}"))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(_span("j-punct", "[]"))
            return
        out.append(_span("j-punct", "[") + "\n")
        for i, item in enumerate(value):
            out.append(pad)
            _render(item, depth + 1, out)
            out.append((_span("j-punct", ",") if i < len(value) - 1 else "") + "\n")
        out.append(end + _span("j-punct", "]"))
    else:
        out.append(_scalar(value))


def json_html(value: Any) -> SafeString:
    """``value`` pretty-printed as JSON, every token in a classed span (for a ``<pre>``)."""
    out: list[str] = []
    _render(value, 0, out)
    return mark_safe("".join(out))
