"""Inline SVG charts for the HTML report: no script, no external library, so the page renders
the same in any browser, offline, under a Content-Security-Policy that forbids everything."""

from __future__ import annotations

from collections.abc import Sequence


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def histogram(values: Sequence[float], bins: int = 10, width: int = 240, height: int = 120) -> str:
    """Counts of `values` in `bins` equal-width bins between their minimum and maximum (0..1
    for the bounded metrics, so two reports of the same metric line up)."""
    if not values:
        return "<svg class='histogram' width='0' height='0'></svg>"
    lo, hi = min(values), max(values)
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts)
    plot_h = height - 20
    bar_w = width / bins
    bars = []
    for i, n in enumerate(counts):
        h = plot_h * n / top if top else 0
        lo_edge = lo + span * i / bins
        bars.append(
            f"<rect x='{i * bar_w + 1:.1f}' y='{plot_h - h:.1f}' width='{bar_w - 2:.1f}' "
            f"height='{h:.1f}' fill='#4f6bed'><title>{lo_edge:.3g}+: {n}</title></rect>"
        )
    axis = (
        f"<text x='0' y='{height - 4}'>{lo:.3g}</text>"
        f"<text x='{width}' y='{height - 4}' text-anchor='end'>{hi:.3g}</text>"
        f"<text x='{width / 2}' y='{height - 4}' text-anchor='middle'>n={len(values)}</text>"
    )
    return (
        f"<svg class='histogram' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img'>{''.join(bars)}{axis}</svg>"
    )


def bar_chart(
    items: Sequence[tuple[str, float]],
    maximum: float | None = None,
    percent: bool = False,
    signed: bool = False,
    width: int = 420,
) -> str:
    """Horizontal bars, one per (label, value). `signed` centres the axis so that a drop and
    a gain point opposite ways."""
    row_h, label_w = 18, 150
    height = row_h * len(items) + 4
    plot_w = width - label_w - 60
    peak = maximum or max((abs(v) for _, v in items), default=1.0) or 1.0
    zero = label_w + (plot_w / 2 if signed else 0)
    scale = (plot_w / 2 if signed else plot_w) / peak
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * row_h + 2
        w = abs(value) * scale
        x = zero - w if signed and value < 0 else zero
        colour = "#b42318" if signed and value < 0 else "#17803d" if signed else "#4f6bed"
        shown = f"{value * 100:.1f}%" if percent else f"{value:+.3g}" if signed else f"{value:.3g}"
        rows.append(
            f"<text x='{label_w - 4}' y='{y + 12}' text-anchor='end'>{_esc(label[:24])}</text>"
            f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{row_h - 4}' fill='{colour}'/>"
            f"<text x='{max(x + w, zero) + 4:.1f}' y='{y + 12}'>{_esc(shown)}</text>"
        )
    return (
        f"<svg class='bars' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img'>{''.join(rows)}</svg>"
    )
