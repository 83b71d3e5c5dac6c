"""Figures of preference tuning (DPO): its own measures over the steps, on held-out pairs. Pure functions:
data in, figure out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llmviz.plots.training import PALETTE


def dpo_curves(history: Sequence, beta: float) -> go.Figure:
    """Three panels over the preference-tuning steps (held-out pairs): DPO's loss −log σ(margin) beside
    ln 2, its value before anything moved; the reward margin β·(Δ chosen − Δ rejected); and the mean
    log-probability of the chosen and of the rejected answers (nats)."""
    rows = [r for r in history if r.other and "margin" in r.other]
    xs = [r.step for r in rows]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, subplot_titles=(
        "DPO loss (held-out pairs)", f"reward margin (β = {beta:g})", "log π(answer), nats"))
    fig.add_trace(go.Scatter(x=xs, y=[r.other["dpo_loss"] for r in rows], mode="lines+markers", name="DPO loss",
                             line=dict(color=PALETTE[0])), 1, 1)
    fig.add_hline(y=math.log(2), line=dict(dash="dot", color="gray"), row=1, col=1,
                  annotation_text="ln 2: no preference learned", annotation_position="top right")
    fig.add_trace(go.Scatter(x=xs, y=[r.other["margin"] for r in rows], mode="lines+markers", name="reward margin",
                             line=dict(color=PALETTE[4])), 1, 2)
    fig.add_trace(go.Scatter(x=xs, y=[r.other["logp_chosen"] for r in rows], mode="lines+markers",
                             name="chosen answer", line=dict(color=PALETTE[2])), 1, 3)
    fig.add_trace(go.Scatter(x=xs, y=[r.other["logp_rejected"] for r in rows], mode="lines+markers",
                             name="rejected answer", line=dict(color=PALETTE[3], dash="dash")), 1, 3)
    fig.update_xaxes(title_text="preference-tuning step")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.12, x=0))
    return fig
