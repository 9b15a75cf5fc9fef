"""Inline SVG time-series charts for the overview: markup only (presentation attributes, no
style attributes or scripts), so they render under the dashboard's strict CSP and offline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

COLOURS = ("#4f6bed", "#e8833a", "#2ca58d", "#c2185b")


def _label(ts: float, span_s: float) -> str:
    fmt = "%H:%M" if span_s <= 2 * 86400 else "%m-%d"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime(fmt)


def line_chart(
    times: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    width: int = 420,
    height: int = 150,
    unit: str = "",
    target: float | None = None,
) -> str:
    """One line per series over the bucket start `times`; a None value is a gap (no data in
    that bucket). `target` draws a dashed horizontal line (e.g. the feedback target)."""
    left, bottom, top_pad = 60, 20, 8
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    values = [v for vs in series.values() for v in vs if v is not None]
    if target is not None:
        values.append(target)
    hi = max(values) if values else 1.0
    hi = hi * 1.1 if hi > 0 else 1.0
    n = max(len(times), 2)

    def x(i: int) -> float:
        return left + plot_w * i / (n - 1)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / hi)

    parts = [
        f"<line x1='{left}' y1='{top_pad + plot_h}' x2='{left + plot_w}' "
        f"y2='{top_pad + plot_h}' stroke='#999'/>",
        f"<text x='{left - 4}' y='{top_pad + 8}' text-anchor='end' font-size='10'>"
        f"{hi:.3g}{escape(unit)}</text>",
        f"<text x='{left - 4}' y='{top_pad + plot_h}' text-anchor='end' font-size='10'>0</text>",
    ]
    if times:
        span = times[-1] - times[0]
        parts.append(
            f"<text x='{left}' y='{height - 4}' font-size='10'>{_label(times[0], span)}</text>"
            f"<text x='{left + plot_w}' y='{height - 4}' text-anchor='end' font-size='10'>"
            f"{_label(times[-1], span)}</text>"
        )
    if target is not None:
        parts.append(
            f"<line x1='{left}' y1='{y(target):.1f}' x2='{left + plot_w}' y2='{y(target):.1f}' "
            f"stroke='#c00' stroke-dasharray='4 3'><title>target {target:g}</title></line>"
        )
    for k, (name, vs) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(
                f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='2' fill='{colour}'>"
                f"<title>{escape(name)}: {v:.4g}{escape(unit)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f"<polyline points='{' '.join(run)}' fill='none' stroke='{colour}' "
                    "stroke-width='1.5'/>"
                )
        parts.append(
            f"<text x='{left + 6 + 90 * k}' y='{top_pad + 10}' font-size='10' "
            f"fill='{colour}'>{escape(name)}</text>"
        )
    return (
        f"<svg class='chart' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img' xmlns='http://www.w3.org/2000/svg'>{''.join(parts)}</svg>"
    )
