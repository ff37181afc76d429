"""Days past due over time as an SVG line chart (pygal), served as an image."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
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
    colors=("#b42318",),
    font_family="'Noto Sans CJK SC', sans-serif",
)


def dpd_chart(
    points: Sequence[tuple[date, int]], *, as_of: date, title: str, y_title: str
) -> bytes:
    """A step-free line through the days-past-due points; no script, no external file."""
    chart = pygal.DateLine(
        js=[],  # pygal's tooltips script would load from the network: never
        width=900,
        height=260,
        show_legend=False,
        show_dots=False,
        x_label_rotation=25,
        style=_STYLE,
        title=title,
        y_title=y_title,
        range=(0, max([p[1] for p in points] + [30])),
        x_value_formatter=lambda d: d.strftime("%Y-%m-%d"),
    )
    chart.add("dpd", list(points) or [(as_of, 0)])
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
