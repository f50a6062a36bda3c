"""A tiny inline-SVG bar chart (no JavaScript, no CDN): readable at a glance, a tooltip per bar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: ``label`` names its bucket (shown on hover), ``tick`` is the axis text or ``""``."""

    label: str
    value: int
    tick: str = ""


def bar_chart_svg(
    bars: Sequence[Bar], *, width: int = 480, height: int = 96, title: str = "", unit: str = ""
) -> SafeString:
    """Bars scaled to the largest value; the maximum is written on the axis, ticks below."""
    top, bottom, left = 12, 16, 28
    plot_h = height - top - bottom
    count = max(len(bars), 1)
    step = (width - left) / count
    bar_w = max(step * 0.8, 1.0)
    peak = max((b.value for b in bars), default=0)
    rects = []
    ticks = []
    for i, bar in enumerate(bars):
        x = left + i * step + (step - bar_w) / 2
        h = plot_h * bar.value / peak if peak else 0.0
        if bar.value and h < 1.5:
            h = 1.5  # a non-zero bucket stays visible
        rects.append(
            (f"{x:.1f}", f"{top + plot_h - h:.1f}", f"{bar_w:.1f}", f"{h:.1f}", f"{bar.label}: {bar.value}{unit}")
        )
        if bar.tick:
            ticks.append((f"{left + i * step + step / 2:.1f}", f"{height - 3}", bar.tick))
    body = format_html_join(
        "",
        '<rect class="ops-bar" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        rects,
    )
    tick_text = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', ticks)
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" width="{}" height="{}" '
        'viewBox="0 0 {} {}">'
        '<line class="ops-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end">0</text>'
        "{}{}</svg>",
        title,
        width,
        height,
        width,
        height,
        left,
        top + plot_h + 0.5,
        width,
        top + plot_h + 0.5,
        left - 4,
        top + 8,
        peak,
        left - 4,
        top + plot_h,
        body,
        tick_text,
    )
