"""Charts for the staff pages: pygal's SVG, drawn on the server and placed inline.

pygal (a well-kept SVG charting library) gives axes, legends, stacked bars and
tooltips-free SVG without any JavaScript, so the pages stay server-rendered and their
Content-Security-Policy forbids scripts. Every chart shares one palette and size, and
scales to the width of a phone. pygal is imported on the first chart drawn, so web
workers that only answer webhooks never load it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from markupsafe import Markup

PALETTE = ("#0b7a75", "#e07a1f", "#3d5a98", "#c2410c", "#6d28d9", "#15803d", "#b91c1c")


@cache
def _pygal() -> Any:
    """pygal, loaded once; without the legacy import hook it appends to ``sys.meta_path``
    (for pygal.maps plugins, unused here), which lacks find_spec, so every failed import
    anywhere in the process would warn through it."""
    import pygal

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


@cache
def _style() -> Any:
    return _pygal().style.Style(
        background="transparent",
        plot_background="transparent",
        foreground="#1f2933",
        foreground_strong="#1f2933",
        foreground_subtle="#9aa5b1",
        opacity=".85",
        opacity_hover="1",
        colors=PALETTE,
        font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
        label_font_size=14,
        major_label_font_size=14,
        legend_font_size=15,
        title_font_size=17,
        value_font_size=12,
    )


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)

Series = Mapping[str, Sequence[float | None]]


def _number(value: float) -> str:
    """Whole numbers plainly, fractions with one decimal (so 0.5 is not shown as 0 or 1)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _config(title: str, labels: Sequence[str], unit: str) -> dict[str, object]:
    formatter = (lambda v: f"{unit}{v:,.2f}") if unit else _number
    # Labels left blank by the caller are already thinned; otherwise thin them here.
    crowded = len(labels) > 12 and all(labels)
    return {
        "title": title,
        "style": _style(),
        "js": [],  # no script: the page's CSP allows none inline or remote
        "width": 640,
        "height": 360,
        "explicit_size": False,
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "x_labels": list(labels),
        "x_label_rotation": 0 if len(labels) <= 8 else 30,
        # Past a dozen labels (days of a month), every few are named: they would overlap.
        "x_labels_major_every": max(1, -(-len(labels) // 7)) if crowded else None,
        "show_minor_x_labels": not crowded,
        "value_formatter": formatter,
        "print_values": False,
        "margin": 12,
        "margin_bottom": 30,  # room for the legend's text below its swatches
        "spacing": 12,
        "truncate_legend": 24,
    }


def _render(chart: Any, series: Series) -> Markup:
    for name, values in series.items():
        chart.add(name, list(values))
    # pygal always embeds its config in a <script>; with no tooltips script it is dead weight
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    # pygal builds the SVG with ElementTree, which escapes every title, label and value
    return Markup(f'<figure class="chart">{svg}</figure>')  # noqa: S704


def bars(title: str, labels: Sequence[str], series: Series, *, unit: str = "") -> Markup:
    """Grouped bars, one group per label (e.g. a month), one colour per series."""
    return _render(_pygal().Bar(**_config(title, labels, unit)), series)


def stacked(title: str, labels: Sequence[str], series: Series, *, unit: str = "") -> Markup:
    """Stacked bars: the parts of each label's total (e.g. cost by provider per day)."""
    return _render(_pygal().StackedBar(**_config(title, labels, unit)), series)


def lines(title: str, labels: Sequence[str], series: Series, *, unit: str = "") -> Markup:
    """Lines over time, gaps where a value is None."""
    config = _config(title, labels, unit)
    config.update(show_dots=len(labels) <= 31, dots_size=3, allow_interruptions=True)
    return _render(_pygal().Line(**config), series)


def heat(value: float, top: float) -> str:
    """A cell colour for a heatmap: white at 0 to deep orange at ``top``."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    light = round(97 - share * 47)
    return f"hsl(24, 85%, {light}%)"
