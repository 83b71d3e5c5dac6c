"""Figures of tutorial part 3's fine-tuning pages: learning the new text while forgetting the old one,
and LoRA's update beside full fine-tuning's. Pure functions: data in, figure out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llmviz.plots.training import PALETTE


def forgetting(series: Mapping[str, Sequence]) -> go.Figure:
    """Validation loss on the NEW text (left) and on the ORIGINAL text (right) of each fine-tuning run
    (llmviz.training.record.Record rows with other["original"]), over the steps."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("the new text (learning)", "the original text (forgetting)"),
                        horizontal_spacing=0.08)
    for i, (name, hist) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        xs = [r.step for r in hist]
        new = [r.val_loss if math.isfinite(r.val_loss) else None for r in hist]
        old = [(r.other or {}).get("original") for r in hist]
        for col, ys in ((1, new), (2, old)):
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name, legendgroup=name, showlegend=col == 1,
                                     line=dict(color=colour), marker=dict(size=5),
                                     hovertemplate=f"{name}<br>step %{{x}}<br>loss %{{y:.3f}}<extra></extra>"),
                          row=1, col=col)
    fig.update_xaxes(title_text="fine-tuning step")
    fig.update_yaxes(title_text="validation loss (nats)", col=1)
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0))
    return fig


def deltas(lora_delta, full_delta, title: str = "") -> go.Figure:
    """ΔW of LoRA (B·A) beside ΔW of full fine-tuning for the same matrix, on ONE symmetric colour scale
    (the larger of the two updates sets it), so equal colours mean equal changes."""
    a, b = np.asarray(lora_delta, dtype=float), np.asarray(full_delta, dtype=float)
    m = max(float(np.abs(a).max()), float(np.abs(b).max())) or 1.0
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("LoRA: ΔW = B·A · α/r", "full fine-tuning: W_after − W_before"))
    for col, z in ((1, a), (2, b)):
        fig.add_trace(go.Heatmap(z=z, colorscale="RdBu", zmid=0, zmin=-m, zmax=m, showscale=col == 2,
                                 colorbar=dict(len=0.9, thickness=10, title=dict(text="Δ", side="top")),
                                 hovertemplate="row %{y}, column %{x}<br>Δ %{z:.2e}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", title_text="output row", col=1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="input column")
    fig.update_layout(title=title or f"one colour scale for both: ±{m:.1e}", height=420,
                      margin=dict(l=10, r=10, t=80, b=10))
    return fig


def singular_values(values, r: int, captured: float) -> go.Figure:
    """The singular values of full fine-tuning's ΔW, largest first, with LoRA's rank r marked."""
    s = np.asarray(values, dtype=float)
    ks = np.arange(1, len(s) + 1)
    fig = go.Figure(go.Bar(x=ks, y=s, marker_color=["#e4572e" if k <= r else "#1f77b4" for k in ks],
                           hovertemplate="singular value %{x}: %{y:.3e}<extra></extra>"))
    fig.add_vline(x=r + 0.5, line=dict(dash="dash", color="grey"),
                  annotation_text=f"r = {r}: {captured:.0%} of the update's energy", annotation_position="top right")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="direction (largest first)",
                      yaxis_title="singular value", bargap=0.1)
    return fig
