"""Figures for the embeddings page: the word2vec loss curve, the autoencoder's progress, and 2-D /
3-D scatter plots of projected embeddings with a highlighted word and its neighbours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

HIGHLIGHT = "#e4572e"
NEIGHBOUR = "#f3a712"
OTHER = "#4c78a8"


def loss_curve(history: Sequence, title: str = "word2vec training loss") -> go.Figure:
    """(step, epoch, loss) records as a line over steps; hover shows the epoch."""
    fig = go.Figure()
    if history:
        steps, epochs, losses = zip(*[(h[0], h[1], h[2]) for h in history])
        fig.add_trace(go.Scatter(x=steps, y=losses, mode="lines", name="loss", customdata=epochs,
                                 hovertemplate="step %{x}<br>epoch %{customdata:.2f}<br>loss %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="negative-sampling loss", height=320,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def autoencoder_curve(history: Sequence) -> go.Figure:
    """(step, loss, accuracy) records: reconstruction loss and the share of words recovered."""
    fig = go.Figure()
    if history:
        steps, losses, accs = zip(*history)
        fig.add_trace(go.Scatter(x=steps, y=losses, name="cross-entropy loss", mode="lines"))
        fig.add_trace(go.Scatter(x=steps, y=accs, name="words reconstructed", mode="lines", yaxis="y2"))
    fig.update_layout(title="Reconstructing one-hot words from the bottleneck", xaxis_title="step",
                      yaxis=dict(title="loss"), height=320, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis2=dict(title="share reconstructed", overlaying="y", side="right", range=[0, 1.05],
                                  tickformat=".0%", dtick=0.25),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))  # clear of the ticks
    return fig


def projection_scatter(coords, labels: Sequence[str], *, highlight: int | None = None,
                       neighbours: Sequence[int] = (), groups: Sequence[str] | None = None,
                       explained=None, method: str = "pca", title: str = "", show_text: bool | None = None) -> go.Figure:
    """A 2-D or 3-D scatter of projected vectors with hover labels.

    `groups` colours the points by category (one trace per group, so the legend can toggle them);
    otherwise the highlighted point and its neighbours stand out in colour and the rest is muted.
    """
    coords = np.asarray(coords, dtype=float)
    dims = coords.shape[1]
    labels = [str(s) for s in labels]
    if show_text is None:
        show_text = len(labels) <= 150
    axis = {"pca": "PC", "tsne": "t-SNE "}.get(method, method + " ")
    names = [f"{axis}{i + 1}" + (f" ({explained[i]:.1%} of variance)" if explained is not None else "")
             for i in range(dims)]

    def trace(idx, name, color, size, text_on):
        idx = list(idx)
        pts = coords[idx]
        common = dict(mode="markers+text" if text_on else "markers", name=name,
                      text=[labels[i] for i in idx], hovertemplate="%{text}<extra>" + name + "</extra>",
                      textposition="top center")
        if dims == 3:
            return go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], marker=dict(size=size / 2, color=color), **common)
        return go.Scatter(x=pts[:, 0], y=pts[:, 1], marker=dict(size=size, color=color), **common)

    fig = go.Figure()
    if groups is not None:
        for g in sorted(set(groups)):
            fig.add_trace(trace([i for i, x in enumerate(groups) if x == g], g, None, 9, show_text))
    else:
        special = set(neighbours) | ({highlight} if highlight is not None else set())
        rest = [i for i in range(len(labels)) if i not in special]
        fig.add_trace(trace(rest, "words", OTHER if not special else "rgba(76,120,168,0.35)", 7, show_text and not special))
        if neighbours:
            fig.add_trace(trace(neighbours, "nearest neighbours", NEIGHBOUR, 10, True))
        if highlight is not None:
            fig.add_trace(trace([highlight], labels[highlight], HIGHLIGHT, 14, True))
    layout = dict(title=title, height=560, margin=dict(l=10, r=10, t=50 if title else 20, b=10),
                  legend=dict(orientation="h", y=-0.08))
    if dims == 3:
        layout["scene"] = dict(xaxis_title=names[0], yaxis_title=names[1], zaxis_title=names[2])
    else:
        layout.update(xaxis_title=names[0], yaxis_title=names[1])
    fig.update_layout(**layout)
    return fig


def explained_variance_bar(explained) -> go.Figure:
    """How much of the spread each principal axis keeps."""
    ev = np.asarray(explained, dtype=float)
    fig = go.Figure(go.Bar(x=[f"PC{i + 1}" for i in range(len(ev))], y=ev, text=[f"{v:.1%}" for v in ev],
                           textposition="outside"))
    fig.update_layout(title="Variance kept by each axis", yaxis=dict(tickformat=".0%"), height=260,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig
