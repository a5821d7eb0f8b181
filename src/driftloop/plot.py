"""Prequential accuracy over a loop's ticks, and its plot (PNG and HTML) with the true
concept changes, the drift alarms and the promotions marked where they happened.

The x axis is the stream position (record index): a marker at record 3200 says that
while record 3200 was being scored, the alarm was raised or the new model served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .loop import Tick

MarkerKind = Literal["change", "alarm", "promotion"]
STYLE: dict[MarkerKind, tuple[str, str]] = {  # colour, line style
    "change": ("#444444", "dotted"),
    "alarm": ("#d62728", "dashed"),
    "promotion": ("#2ca02c", "solid"),
}
DASH = {"dotted": "dot", "dashed": "dash", "solid": "solid"}
TITLES: dict[MarkerKind, str] = {
    "change": "concept change (true)",
    "alarm": "drift alarm",
    "promotion": "promotion",
}


@dataclass(frozen=True)
class Marker:
    index: int
    kind: MarkerKind
    label: str


def sliding_accuracy(ticks: Sequence[Tick], window: int) -> list[float]:
    """Accuracy of the ``window`` records up to and including each one (fewer at the start)."""
    found: list[float] = []
    right = 0
    for i, tick in enumerate(ticks):
        right += tick.correct
        if i >= window:
            right -= ticks[i - window].correct
        found.append(right / min(i + 1, window))
    return found


def accuracy(ticks: Sequence[Tick], start: int, end: int) -> float | None:
    """Accuracy of the ticks with ``start <= index < end``; None when there are none."""
    chosen = [t.correct for t in ticks if start <= t.index < end]
    return sum(chosen) / len(chosen) if chosen else None


def write_png(
    path: Path, ticks: Sequence[Tick], markers: Sequence[Marker], window: int, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(12, 5), dpi=110, layout="constrained")
    try:
        axes.plot(
            [t.index for t in ticks],
            sliding_accuracy(ticks, window),
            color="#1f77b4",
            linewidth=1.4,
            label=f"accuracy, last {window} records",
        )
        shown: set[MarkerKind] = set()
        for marker in markers:
            colour, style = STYLE[marker.kind]
            axes.axvline(
                marker.index,
                color=colour,
                linestyle=style,
                linewidth=1.2,
                label=None if marker.kind in shown else TITLES[marker.kind],
            )
            shown.add(marker.kind)
            axes.annotate(
                marker.label,
                (marker.index, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12 - 11 * ("change", "alarm", "promotion").index(marker.kind)),
                textcoords="offset points",
                fontsize=7,
                color=colour,
            )
        axes.set_ylim(0.0, 1.05)
        axes.set_xlim(0, max(len(ticks) - 1, 1))
        axes.set_xlabel("record")
        axes.set_ylabel("prequential accuracy")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
        figure.savefig(path)
    finally:
        pyplot.close(figure)


def write_html(
    path: Path, ticks: Sequence[Tick], markers: Sequence[Marker], window: int, title: str
) -> None:
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[t.index for t in ticks],
            y=sliding_accuracy(ticks, window),
            mode="lines",
            name=f"accuracy, last {window} records",
            customdata=[[t.at, t.model_version or "-"] for t in ticks],
            hovertemplate="record %{x}<br>accuracy %{y:.3f}<br>%{customdata[0]:.1f} s"
            "<br>model v%{customdata[1]}<extra></extra>",
        )
    )
    for kind in TITLES:  # one legend entry per kind of marker
        colour, style = STYLE[kind]
        chosen = [m for m in markers if m.kind == kind]
        figure.add_trace(
            go.Scatter(
                x=[x for m in chosen for x in (m.index, m.index, None)],
                y=[y for _ in chosen for y in (0.0, 1.05, None)],
                mode="lines",
                line={"color": colour, "dash": DASH[style], "width": 1.5},
                name=TITLES[kind],
                text=[text for m in chosen for text in (m.label, m.label, "")],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    figure.update_layout(
        title=title,
        xaxis_title="record",
        yaxis_title="prequential accuracy",
        yaxis_range=[0.0, 1.05],
        template="plotly_white",
    )
    figure.write_html(path, include_plotlyjs=True)
