"""Figures for "training deep networks": gradient norms per layer over steps, loss curves side by
side, gradient and activation scale per layer, and the train/validation gap with dropout.

Every function takes the experiment's history (llmviz.concepts.deep StepStats / EvalStats records) and its
variants, so a page can redraw them from a job's snapshot while it trains."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from llmviz.concepts.deep import eval_stats, layer_names, step_stats

# one colour per depth, one dash per architecture: "plain" dashed reads as "the broken one"
_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]


def _style(variants, i):
    depths = sorted({v.n_layer for v in variants})
    v = variants[i]
    dash = "solid" if v.residual and v.layer_norm else "dash" if not (v.residual or v.layer_norm) else "dot"
    return dict(color=_COLORS[depths.index(v.n_layer) % len(_COLORS)], dash=dash)


def _layout(fig, title, x_title, y_title, log_y=False, height=360):
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(font=dict(size=11)))
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power", dtick=1)  # one tick per power of ten: not cramped
    return fig


def loss_curves(history, variants) -> go.Figure:
    """Training loss of every variant over the same steps."""
    fig = go.Figure()
    for i, v in enumerate(variants):
        s = step_stats(history, i)
        fig.add_trace(go.Scatter(x=[r.step for r in s], y=[r.loss for r in s], name=v.label, mode="lines",
                                 line=_style(variants, i)))
    return _layout(fig, "Training loss, side by side", "step", "loss (cross-entropy)")


def grad_heatmap(history, variants, i: int, zrange: tuple[float, float] | None = None) -> go.Figure:
    """log10 of each layer's gradient norm (rows, embeddings on top) over the logged steps (columns)."""
    s = step_stats(history, i)
    names = layer_names(variants[i].n_layer)
    z = np.array([[_log10(g) for g in r.grad_norms] for r in s]).T if s else np.zeros((len(names), 0))
    zmin, zmax = zrange if zrange else (None, None)
    fig = go.Figure(go.Heatmap(
        z=z, x=[r.step for r in s], y=names, colorscale="Viridis", zmin=zmin, zmax=zmax,
        colorbar=dict(title="log₁₀ ‖grad‖"),
        hovertemplate="%{y} at step %{x}<br>gradient norm 10^%{z:.1f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, f"Gradient norm per layer · {variants[i].label}", "step", "",
                   height=max(260, 80 + 18 * len(names)))


def grad_range(history) -> tuple[float, float] | None:
    """One colour scale for every heatmap, so that two variants can be compared by eye."""
    logs = [_log10(g) for r in history if hasattr(r, "grad_norms") for g in r.grad_norms]
    logs = [x for x in logs if math.isfinite(x)]
    return (min(logs), max(logs)) if logs else None


def layer_profile(history, variants, what: str = "grad") -> go.Figure:
    """At the latest logged step: each layer's gradient norm ("grad") or activation scale ("act"),
    against its position in the stack (0 = embeddings), one line per variant."""
    fig = go.Figure()
    for i, v in enumerate(variants):
        s = step_stats(history, i)
        if not s:
            continue
        values = s[-1].grad_norms if what == "grad" else s[-1].act_rms
        names = layer_names(v.n_layer)[: len(values)]
        fig.add_trace(go.Scatter(x=list(range(len(values))), y=[max(x, 1e-30) for x in values], name=v.label,
                                 mode="lines+markers", line=_style(variants, i), text=names,
                                 hovertemplate="%{text}: %{y:.2e}<extra>" + v.label + "</extra>"))
    if what == "grad":
        return _layout(fig, "Gradient norm per layer (latest step)", "layer (0 = embeddings, last = head)",
                       "‖gradient‖", log_y=True)
    return _layout(fig, "Activation scale leaving each layer (latest step)", "layer (0 = embeddings)",
                   "root mean square", log_y=True)


def dropout_curves(history, variants) -> go.Figure:
    """Estimated training (dashed) and validation (solid) loss of each variant."""
    fig = go.Figure()
    for i, v in enumerate(variants):
        e = eval_stats(history, i)
        color = _COLORS[i % len(_COLORS)]
        steps = [r.step for r in e]
        fig.add_trace(go.Scatter(x=steps, y=[r.train_loss for r in e], name=f"{v.label} · train", mode="lines",
                                 line=dict(color=color, dash="dash")))
        fig.add_trace(go.Scatter(x=steps, y=[r.val_loss for r in e], name=f"{v.label} · validation",
                                 mode="lines+markers", line=dict(color=color)))
    return _layout(fig, "Training vs validation loss", "step", "loss (cross-entropy)", height=400)


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else float("nan")
