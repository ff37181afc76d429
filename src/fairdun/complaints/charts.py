"""Bar charts of the dashboard as SVG (pygal), served as images: no script, no external
file, exactly as the loan page's days-past-due chart."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

import pygal
from pygal.style import Style

_SVG = "http://www.w3.org/2000/svg"
ElementTree.register_namespace("", _SVG)
ElementTree.register_namespace("xlink", "http://www.w3.org/1999/xlink")

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#d9e2ec",
    colors=("#1f5f8b",),
    font_family="'Noto Sans CJK SC', sans-serif",
)
WIDTH, HEIGHT = 900, 320
MAX_BARS = 20


def bar_chart(
    points: Sequence[tuple[str, int]], *, title: str, horizontal: bool = False, empty: str = ""
) -> bytes:
    """One series of counts as bars, labelled; at most :data:`MAX_BARS` (the largest when
    the points are sorted that way)."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    shown = list(points)[:MAX_BARS]
    chart = kind(
        js=[],  # pygal's tooltip script would load from the network: never
        width=WIDTH,
        height=HEIGHT if not horizontal else max(HEIGHT, 60 + 26 * len(shown)),
        show_legend=False,
        x_label_rotation=0 if horizontal else 30,
        style=_STYLE,
        title=title,
        no_data_text=empty or "—",
        print_values=True,
        min_scale=1,
    )
    labels = [label for label, _n in shown]
    values = [n for _label, n in shown]
    if horizontal:  # pygal draws the first bar at the bottom; read top-down
        labels, values = labels[::-1], values[::-1]
    chart.x_labels = labels
    chart.add("n", values if any(values) else [])
    return _without_scripts(chart.render())


def _without_scripts(svg: bytes) -> bytes:
    """pygal always embeds a config <script>; an image needs none, so drop every one."""
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output, not outside input
    for parent in root.iter():
        for child in list(parent):
            if child.tag == f"{{{_SVG}}}script":
                parent.remove(child)
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
