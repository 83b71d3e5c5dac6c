"""Shared figure helpers: labelled, annotated heatmaps readable in light and dark themes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# small matrices get their numbers written in the cells
ANNOTATE_MAX_CELLS = 400


PALETTE = ("#1f77b4", "#e4572e", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")


def category_colours(n: int) -> list[str]:
    """n colours that tell n categories apart on a light and on a dark page: the usual palette up to its
    length, beyond it hues spread evenly round the circle at alternating lightness (never grey or black)."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({round(360 * k / n)}, 75%, {52 if k % 2 else 62}%)" for k in range(n)]


def heatmap(
    z,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str = "",
    *,
    annotate: bool | None = None,
    fmt: str = ".2f",
    colorscale: str = "Blues",
    zmin: float | None = None,
    zmax: float | None = None,
    highlight_rows: Sequence[int] = (),
    highlight_cols: Sequence[int] = (),
    x_title: str = "",
    y_title: str = "",
    mask=None,
    highlight_cells: Sequence[tuple[int, int]] = (),
    zmid: float | None = None,
    masked_text: str = "−∞",
) -> go.Figure:
    """A heatmap with token labels on both axes, rows top to bottom as in a matrix.

    `mask` (same shape as z, True = hidden) greys those cells out and writes `masked_text` in them: "−∞"
    for scores, the way a causal mask is drawn, "0" for the weights the softmax makes of them. Highlighted rows/columns/cells (row, column) get an outline. `zmid`
    centres a diverging colorscale (e.g. "RdBu") on that value, so signs read at a glance.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[None, :]
    n_rows, n_cols = z.shape
    x = [str(s) for s in x_labels] if x_labels is not None else [str(i) for i in range(n_cols)]
    y = [str(s) for s in y_labels] if y_labels is not None else [str(i) for i in range(n_rows)]
    x, y = _unique(x), _unique(y)
    shown = z.copy()
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        shown = np.where(mask, np.nan, shown)
    if annotate is None:
        annotate = z.size <= ANNOTATE_MAX_CELLS
    text = None
    if annotate:
        text = [[_cell(z[i, j], fmt, mask is not None and mask[i, j], masked_text) for j in range(n_cols)] for i in range(n_rows)]
    finite = shown[np.isfinite(shown)]
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}" if annotate else None,
            colorscale=colorscale,
            zmin=zmin if zmin is not None or zmid is not None else (float(finite.min()) if finite.size else None),
            zmax=zmax if zmax is not None or zmid is not None else (float(finite.max()) if finite.size else None),
            zmid=zmid,
            hovertemplate="row %{y}<br>column %{x}<br>value %{z:" + fmt + "}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    if mask is not None and mask.any():
        # draw the masked cells as hatched grey so "hidden" reads differently from "zero"
        fig.add_trace(
            go.Heatmap(
                z=np.where(mask, 1.0, np.nan),
                x=x,
                y=y,
                colorscale=[[0, "rgba(128,128,128,0.35)"], [1, "rgba(128,128,128,0.35)"]],
                showscale=False,
                hoverinfo="skip",
                xgap=1,
                ygap=1,
            )
        )
    for r in highlight_rows:
        fig.add_shape(type="rect", x0=-0.5, x1=n_cols - 0.5, y0=r - 0.5, y1=r + 0.5,
                      line=dict(color="#e4572e", width=3))
    for c in highlight_cols:
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=-0.5, y1=n_rows - 0.5,
                      line=dict(color="#e4572e", width=3))
    for r, c in highlight_cells:
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                      line=dict(color="#e4572e", width=2.5))
    fig.update_yaxes(autorange="reversed", title=y_title, type="category")
    fig.update_xaxes(title=x_title, side="top", type="category")
    fig.update_layout(
        title=title,
        margin=dict(l=10, r=10, t=60 if title else 30, b=10),
        height=max(160, 40 + 28 * n_rows + (40 if title else 0)),
    )
    return fig


def _cell(v: float, fmt: str, masked: bool, masked_text: str = "−∞") -> str:
    if masked:
        return masked_text
    if v == -np.inf:
        return "−∞"
    if v == np.inf:
        return "∞"
    return format(v, fmt)


def _unique(labels: list[str]) -> list[str]:
    """Plotly merges equal category labels; make repeated tokens distinct with invisible suffixes."""
    seen: dict[str, int] = {}
    out = []
    for s in labels:
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.append(s + "\u200b" * n)
    return out
