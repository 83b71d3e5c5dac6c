"""Figures of the live "inside the model" views (llmviz.nn.inside): the token-embedding table in 2-D,
coloured by kind of character, and the gradient norm of each layer over the steps. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from llmviz.nn.inside import GROUPS, char_group
from llmviz.text.whitespace import visible

GROUP_COLOURS = dict(zip(GROUPS, ("#e4572e", "#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#17becf",
                                  "#7f7f7f")))
LAYER_COLOURS = ("#7f7f7f", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#e4572e")


def embedding_map(xy, tokens: Sequence[str], explained=None, title: str = "", height: int = 380) -> go.Figure:
    """Each token's embedding row as a point of the 2-D projection, written as the token itself and
    coloured by its group (vowels, consonants, capitals, digits, punctuation, whitespace)."""
    xy = np.asarray(xy, dtype=float)
    fig = go.Figure()
    groups = [char_group(t) for t in tokens]
    for g in GROUPS:
        rows = [i for i, gi in enumerate(groups) if gi == g]
        if not rows:
            continue
        fig.add_trace(go.Scatter(x=xy[rows, 0], y=xy[rows, 1], mode="text", name=g,
                                 text=[visible(tokens[i]) for i in rows],
                                 textfont=dict(color=GROUP_COLOURS[g], size=14),
                                 hovertemplate="%{text}<extra>" + g + "</extra>"))
    ex = list(explained) if explained is not None else [None, None]
    axis = [f"axis {i + 1}" + (f" ({ex[i]:.0%} of the variance)" if ex[i] is not None else "") for i in range(2)]
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title=axis[0], zeroline=False, showticklabels=False),
                      yaxis=dict(title=axis[1], zeroline=False, showticklabels=False),
                      legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    return fig


def grad_norm_lines(history: Sequence[tuple], title: str = "", height: int = 380) -> go.Figure:
    """The gradient norm of each layer (embedding, block 1..n, head) against the step, on a log scale:
    layers whose gradient fades learn slowly."""
    layers: list[str] = []
    for _, norms in history:
        layers += [k for k in norms if k not in layers]
    fig = go.Figure()
    for i, layer in enumerate(layers):
        pts = [(s, n[layer]) for s, n in history if layer in n and n[layer] > 0]
        fig.add_trace(go.Scatter(x=[s for s, _ in pts], y=[v for _, v in pts], mode="lines", name=layer,
                                 line=dict(color=LAYER_COLOURS[i % len(LAYER_COLOURS)]),
                                 hovertemplate=f"{layer}<br>step %{{x}}<br>gradient norm %{{y:.3g}}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis_title="training step", yaxis=dict(title="gradient norm (log)", type="log", dtick=1,
                                                               exponentformat="power"),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig
