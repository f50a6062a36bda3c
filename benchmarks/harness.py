"""Shared measuring: alternate the cases of one comparison, take medians, print ratios.

These machines are noisy, so a figure on its own means little: every comparison runs its cases
interleaved in the same rounds, and the table reports medians and ratios between them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypedDict


class Row(TypedDict, total=False):
    group: str
    name: str
    value: float
    unit: str
    note: str


def measure(
    cases: dict[str, Callable[[], object]], *, rounds: int = 7, block: int = 100, warmup: int = 1
) -> dict[str, float]:
    """Seconds per call of each case: ``rounds`` rounds, each running every case ``block`` times in turn."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: caches, connections, JIT-free but import-heavy paths
        for _ in range(warmup):
            fn()
    for r in range(rounds):
        order = list(cases.items())
        if r % 2:
            order.reverse()  # alternate the order so drift does not favour one case
        for name, fn in order:
            start = time.perf_counter()
            for _ in range(block):
                fn()
            samples[name].append((time.perf_counter() - start) / block)
    return {name: statistics.median(values) for name, values in samples.items()}


def timing_rows(group: str, medians: dict[str, float], *, baseline: str | None = None, note: str = "") -> list[Row]:
    """Rows of per-call times (microseconds) and, with a baseline, each case's ratio to it."""
    rows: list[Row] = [
        {"group": group, "name": name, "value": seconds * 1e6, "unit": "us/op", "note": note}
        for name, seconds in medians.items()
    ]
    if baseline is not None:
        base = medians[baseline]
        rows += [
            {"group": group, "name": f"{name} / {baseline}", "value": seconds / base, "unit": "ratio"}
            for name, seconds in medians.items()
            if name != baseline
        ]
    return rows


def row(group: str, name: str, value: float, unit: str, note: str = "") -> Row:
    return {"group": group, "name": name, "value": float(value), "unit": unit, "note": note}


def format_table(rows: list[Row]) -> str:
    lines = [f"{'group':<20} {'measurement':<58} {'value':>12}  {'unit':<8} note", "-" * 120]
    for r in rows:
        value = r.get("value", 0.0)
        shown = f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        lines.append(
            f"{r.get('group', ''):<20} {r.get('name', ''):<58} {shown:>12}  {r.get('unit', ''):<8} {r.get('note', '')}"
        )
    return "\n".join(lines)


def combine(runs: list[list[Row]]) -> list[Row]:
    """One row per (group, name) of several runs: the median value, and the range in the note.

    A figure of a shared, busy machine moves from run to run; the median of three runs and the
    range beside it say how far to trust it (ratios move less than times: they are taken within a run).
    """
    order: dict[tuple[str, str], Row] = {}
    values: dict[tuple[str, str], list[float]] = {}
    for rows in runs:
        for r in rows:
            key = (str(r.get("group", "")), str(r.get("name", "")))
            order.setdefault(key, r)
            values.setdefault(key, []).append(float(r.get("value", 0.0)))
    combined: list[Row] = []
    for key, first in order.items():
        seen = values[key]
        note = str(first.get("note", ""))
        if len(seen) > 1:
            spread = f"range {_short(min(seen))}-{_short(max(seen))} of {len(seen)} runs"
            note = f"{note}; {spread}" if note else spread
        combined.append({**first, "value": statistics.median(seen), "note": note})
    return combined


def _short(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
