"""Figures of tutorial part 3's instruct and chat pages: a conversation as the model sees it, token by
token, and accuracy per task. Pure functions: data in, figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from llmviz.plots.training import PALETTE
from llmviz.text.whitespace import visible

# what each kind of token is, and its colour: solid colours, so plotly picks a readable text colour on
# each cell in a light and a dark theme alike (a translucent cell looks dark on a dark page)
KINDS = {"read": ("only read (masked out of the loss)", "#c8c8c8"),
         "learned": ("learned (the assistant's answer)", "#2ca02c"),
         "tag": ("special token (one id)", "#1f77b4"),
         "forgotten": ("outside the context: forgotten", "#f4b6a0")}


def token_strip(tokens: Sequence[str], kinds: Sequence[str], per_row: int = 12, title: str = "",
                legend: Mapping[str, tuple[str, str]] = KINDS) -> go.Figure:
    """Tokens in reading order, per_row to a line, each coloured by its kind (a key of `legend`: name, colour)."""
    n = len(tokens)
    rows = max(1, -(-n // per_row))
    codes = list(legend)
    z = np.full((rows, per_row), np.nan)
    text = [[""] * per_row for _ in range(rows)]
    for i, (t, k) in enumerate(zip(tokens, kinds)):
        r, c = divmod(i, per_row)
        z[r, c] = codes.index(k)
        text[r][c] = visible(t) if len(t) == 1 else t
    scale = []
    for i, k in enumerate(codes):
        lo, hi = i / len(codes), (i + 1) / len(codes)
        scale += [[lo, legend[k][1]], [hi, legend[k][1]]]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=13), colorscale=scale,
                               zmin=-0.5, zmax=len(codes) - 0.5, showscale=False, xgap=2, ygap=2, hoverinfo="text"))
    for k in dict.fromkeys(kinds):  # a legend of the kinds present
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=legend[k][0],
                                 marker=dict(size=12, symbol="square", color=legend[k][1])))
    fig.update_yaxes(autorange="reversed", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(title=title, height=80 + 38 * rows, margin=dict(l=5, r=5, t=40 if title else 10, b=5),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), plot_bgcolor="rgba(0,0,0,0)")
    return fig


def accuracy_curves(history: Sequence, tasks: Sequence[str]) -> go.Figure:
    """Held-out accuracy of each task over the steps (llmviz.training.record.Record rows with other["acc <task>"])."""
    fig = go.Figure()
    for i, task in enumerate(tasks):
        xs = [r.step for r in history if r.other and f"acc {task}" in r.other]
        ys = [r.other[f"acc {task}"] for r in history if r.other and f"acc {task}" in r.other]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=task, line=dict(color=PALETTE[i % 10]),
                                 hovertemplate=f"{task}<br>step %{{x}}<br>%{{y:.0%}}<extra></extra>"))
    fig.add_hline(y=0.9, line=dict(dash="dot", color="grey"), annotation_text="90 %")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="training step",
                      yaxis=dict(title="held-out accuracy", tickformat=".0%", range=[-0.03, 1.05]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def accuracy_bars(scores: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Accuracy per task for several models side by side ({"base": {task: acc}, "tuned": {...}})."""
    fig = go.Figure()
    for i, (name, acc) in enumerate(scores.items()):
        fig.add_trace(go.Bar(x=list(acc), y=list(acc.values()), name=name, marker_color=PALETTE[i % 10],
                             text=[f"{v:.0%}" for v in acc.values()], textposition="outside"))
    fig.update_layout(barmode="group", height=300, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis=dict(title="held-out accuracy", tickformat=".0%", range=[0, 1.15]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def preference_curves(history: Sequence) -> go.Figure:
    """Preference tuning over the steps: the share of answers that follow the rule (left axis) and the
    drift from the reference model (right axis, nats)."""
    rows = [r for r in history if r.other and "preferred" in r.other]
    xs = [r.step for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=[r.other["preferred"] for r in rows], mode="lines+markers",
                             name="answers that follow the rule", line=dict(color=PALETTE[2])))
    fig.add_trace(go.Scatter(x=xs, y=[r.other["drift"] for r in rows], mode="lines+markers", yaxis="y2",
                             name="drift from the reference (≈ KL, nats)", line=dict(color=PALETTE[1], dash="dash")))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="preference-tuning step",
                      yaxis=dict(title="preferred", tickformat=".0%", range=[-0.03, 1.05]),
                      yaxis2=dict(title="drift (nats)", overlaying="y", side="right", rangemode="tozero"),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
