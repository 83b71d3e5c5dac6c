"""Figures for part 1 of the tutorial (from a dictionary to attention): pure functions → go.Figure.

Matrices are drawn with plots.common.heatmap (token labels on both axes, numbers in the cells);
this module adds the bar charts and the few pictures that are not matrices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from llmviz.concepts.lookup import EditOp
from llmviz.plots.common import heatmap

ACCENT = "#e4572e"  # the chosen / winning item, the same orange as heatmap outlines
MUTED = "#4c78a8"


def _bars(labels, values, winner: int | None, title: str, fmt: str, x_title: str,
          x_range=None) -> go.Figure:
    """Horizontal bars, first label on top, the winner in the accent colour."""
    labels = [str(s) for s in labels]
    colors = [ACCENT if i == winner else MUTED for i in range(len(labels))]
    fig = go.Figure(go.Bar(
        x=list(values), y=labels, orientation="h", marker_color=colors,
        text=[format(v, fmt) for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:" + fmt + "}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=x_title, range=x_range)
    # room on the right for the value written past the longest bar
    fig.update_layout(title=title, height=max(180, 70 + 30 * len(labels)), margin=dict(l=10, r=45, t=50, b=10))
    return fig


# --- page 1: Levenshtein lookup ------------------------------------------------------------------


def distance_bars(ranked: Sequence[tuple[str, int]], query: str) -> go.Figure:
    """Edit distance from the query to every key, closest (the one used) first."""
    keys = [k for k, _ in ranked]
    return _bars(keys, [d for _, d in ranked], 0 if ranked else None,
                 f"edit distance from “{query}” to every key", "d", "edits needed")


def levenshtein_figure(a: str, b: str, table: np.ndarray, ops: Sequence[EditOp]) -> go.Figure:
    """The DP table of a → b, with the optimal alignment path outlined and each step's edit on hover."""
    path = [(0, 0)] + [(op.i, op.j) for op in ops]
    fig = heatmap(table, ["ε"] + list(b), ["ε"] + list(a),
                  f"D[i, j] = edits to turn the first i letters of “{a[:12]}” into the first j of “{b[:12]}”",
                  fmt=".0f", colorscale="Blues", highlight_cells=path, y_title=f"query “{a}”")
    # letters on the path show which edit each step is (· keep, ↘ substitute, ↓ delete, → insert)
    arrow = {"match": "·", "substitute": "↘", "delete": "↓", "insert": "→"}
    if len(path) > 1 and table.size <= 1600:
        fig.add_trace(go.Scatter(
            x=[fig.data[0].x[op.j] for op in ops], y=[fig.data[0].y[op.i] for op in ops],
            mode="markers", marker=dict(size=1, color="rgba(0,0,0,0)"),
            text=[f"{arrow[op.kind]} {op.describe()}" for op in ops],
            hovertemplate="%{text}<extra></extra>", showlegend=False,
        ))
    return fig


# --- page 2: one-hot -----------------------------------------------------------------------------


def one_hot_figure(matrix: np.ndarray, tokens: Sequence[str], vocab: Sequence[str], title: str) -> go.Figure:
    """One row per token, one column per vocabulary entry; unknown tokens are all-zero rows (outlined)."""
    empty_rows = [i for i in range(len(tokens)) if not matrix[i].any()]
    return heatmap(matrix, vocab, tokens, title, fmt=".0f", zmin=0, zmax=1,
                   highlight_rows=empty_rows, y_title="token")


def vector_length_figure(current: int, extra: int) -> go.Figure:
    """A one-hot vector is as long as the vocabulary: the length, and the share of it that is zeros."""
    sizes = np.unique(np.geomspace(1, max(60_000, current + extra), 60).astype(int))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sizes, y=sizes, mode="lines", name="numbers per token (= vocabulary size)"))
    fig.add_trace(go.Scatter(x=sizes, y=100 * (1 - 1 / sizes), mode="lines", name="% of them that are 0",
                             yaxis="y2", line=dict(dash="dot")))
    marks = [(current, "your dictionary", "top left"), (current + extra, "with the extra words", "bottom right"),
             (50_257, "GPT-2's vocabulary", "bottom left")]
    for x, label, position in marks:
        if x < 1 or (label == "with the extra words" and extra == 0):
            continue  # an empty vocabulary has no place on a log axis; no extra words: the same point
        fig.add_trace(go.Scatter(x=[x], y=[x], mode="markers+text", text=[label], textposition=position,
                                 marker=dict(size=10, color=ACCENT if label != "GPT-2's vocabulary" else MUTED),
                                 showlegend=False, hovertemplate=f"{label}: %{{x:,}} numbers<extra></extra>"))
    fig.update_layout(
        title="one-hot vectors grow with the vocabulary", height=360, margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(type="log", title="vocabulary size"), yaxis=dict(type="log", title="vector length"),
        yaxis2=dict(overlaying="y", side="right", range=[0, 100], title="zeros", ticksuffix=" %", showgrid=False,
                    tickmode="array", tickvals=[0, 25, 50, 75, 100]),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


# --- page 3: the dictionary as a matrix product --------------------------------------------------


def row_vector(v: np.ndarray, labels: Sequence[str], title: str, highlight: Sequence[int] = (),
               fmt: str = ".2f") -> go.Figure:
    """A single row vector as a one-row heatmap (with the chosen entries outlined)."""
    fig = heatmap(np.atleast_2d(v), labels, [""], title, fmt=fmt, highlight_cols=highlight,
                  zmin=min(0.0, float(np.min(v))) if np.size(v) else 0, zmax=max(1.0, float(np.max(v))) if np.size(v) else 1)
    fig.update_traces(showscale=False)  # the numbers are written in the cells
    fig.update_layout(height=150)
    return fig


def column_vector(v: np.ndarray, label: str, row_labels: Sequence[str], title: str,
                  highlight: Sequence[int] = (), show_row_labels: bool = True) -> go.Figure:
    """A vector drawn as a column, so it lines up with the rows of the matrix beside it (whose labels
    it can leave to that matrix: show_row_labels=False keeps a narrow column readable)."""
    fig = heatmap(np.asarray(v, dtype=float)[:, None], [label], row_labels, title, highlight_rows=highlight,
                  fmt=".1f", zmin=min(0.0, float(np.min(v))) if np.size(v) else 0,
                  zmax=max(1.0, float(np.max(v))) if np.size(v) else 1)
    fig.update_yaxes(showticklabels=show_row_labels)
    return fig.update_traces(showscale=False)


def matrix(m: np.ndarray, col_labels: Sequence[str], row_labels: Sequence[str], title: str,
           highlight_rows: Sequence[int] = (), fmt: str = ".0f", x_title: str = "", y_title: str = "") -> go.Figure:
    """A 0/1 (or small-valued) matrix with token labels, e.g. K or V."""
    fig = heatmap(m, col_labels, row_labels, title, fmt=fmt, highlight_rows=highlight_rows,
                  zmin=min(0.0, float(np.min(m))) if m.size else 0, zmax=max(1.0, float(np.max(m))) if m.size else 1,
                  x_title=x_title, y_title=y_title)
    return fig.update_traces(showscale=False)


# --- page 4: cosine similarity -------------------------------------------------------------------


def similarity_bars(labels: Sequence[str], values: np.ndarray, title: str, x_title: str = "cosine similarity",
                    x_range=(-1.05, 1.05)) -> go.Figure:
    """Similarity of one vector to every token, the best one in the accent colour. x_range=None: symmetric
    around 0, wide enough for the values and at least ±1.05 (so a zero bar still reads as zero)."""
    winner = int(np.argmax(values)) if len(values) and np.any(values) else None
    if x_range is None:
        lim = max(1.05, float(np.abs(values).max()) * 1.1) if len(values) else 1.05
        x_range = (-lim, lim)
    return _bars(labels, values, winner, title, ".3f", x_title, x_range)


def plane_figure(q_xy: tuple[float, float], a_label: str, b_label: str, off_plane: float = 0.0) -> go.Figure:
    """The query drawn in the plane of two one-hot axes, with its angle to each of them."""
    x, y = q_xy
    fig = go.Figure()
    for (ux, uy), label in [((1, 0), a_label), ((0, 1), b_label)]:
        fig.add_trace(go.Scatter(x=[0, ux], y=[0, uy], mode="lines+markers+text", text=["", label],
                                 textposition="top center", line=dict(color=MUTED, width=3),
                                 marker=dict(size=[0, 8]), name=label, hoverinfo="skip"))
    norm = np.hypot(x, y)
    ang_a = np.degrees(np.arctan2(y, x)) if norm > 0 else float("nan")
    fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers+text", text=["", "query"],
                             textposition="bottom right", line=dict(color=ACCENT, width=4),
                             marker=dict(size=[0, 10]), name="query",
                             hovertemplate=f"query ({x:.2f}, {y:.2f})<br>angle to {a_label}: {ang_a:.1f}°"
                                           f"<br>angle to {b_label}: {90 - ang_a:.1f}°<extra></extra>"))
    lo, hi = min(-0.2, x - 0.2, y - 0.2), max(1.2, x + 0.2, y + 0.2)
    title = f"in the plane of “{a_label}” and “{b_label}”: {ang_a:.0f}° from “{a_label}”"
    if off_plane > 1e-9:
        title += f" (noise adds {off_plane:.2f} outside this plane)"
    fig.update_layout(title=title, height=380, showlegend=False, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(range=[lo, hi], zeroline=True, title=f"component on “{a_label}”"),
                      yaxis=dict(range=[lo, hi], zeroline=True, scaleanchor="x", title=f"component on “{b_label}”"))
    return fig


# --- page 5: softmax -----------------------------------------------------------------------------


def probability_bars(labels: Sequence[str], probs: np.ndarray, title: str) -> go.Figure:
    winner = int(np.argmax(probs)) if len(probs) else None
    return _bars(labels, probs, winner, title, ".3f", "probability", (0, 1.05))


def scores_and_probs(labels: Sequence[str], scores: np.ndarray, probs: np.ndarray, title: str) -> go.Figure:
    """Scores (left panel, any real numbers) and their softmax probabilities (right panel, 0..1)."""
    from plotly.subplots import make_subplots

    labels = [str(s) for s in labels]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("scores", "softmax probabilities"), horizontal_spacing=0.08)
    fig.add_trace(go.Bar(x=labels, y=list(scores), name="score", marker_color=MUTED,
                         text=[f"{v:.2f}" for v in scores], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: score %{y:.3f}<extra></extra>"), row=1, col=1)
    winner = int(np.argmax(probs)) if len(probs) else -1
    fig.add_trace(go.Bar(x=labels, y=list(probs), name="probability",
                         marker_color=[ACCENT if i == winner else MUTED for i in range(len(labels))],
                         text=[f"{p:.2f}" for p in probs], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: probability %{y:.3f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.15], row=1, col=2)
    fig.update_layout(title=title, height=340, margin=dict(l=10, r=10, t=70, b=10), showlegend=False)
    return fig


def compare_values(labels: Sequence[str], series: dict[str, np.ndarray], title: str = "") -> go.Figure:
    """Grouped bars, one group per token: e.g. the hard and the soft lookup's output vectors."""
    labels = [str(s) for s in labels]
    fig = go.Figure()
    for (name, values), color in zip(series.items(), [MUTED, ACCENT, "#54a24b", "#b279a2"]):
        fig.add_trace(go.Bar(x=labels, y=list(values), name=name, marker_color=color,
                             text=[f"{v:.2f}" for v in values], textposition="outside", cliponaxis=False,
                             hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(title=title or "output vector over the output vocabulary", barmode="group", height=320,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(type="category"),
                      yaxis=dict(range=[0, 1.15]), legend=dict(orientation="h", y=-0.2))
    return fig


def scaling_figure(dims: Sequence[int], unscaled: np.ndarray, scaled: np.ndarray, n_keys: int) -> go.Figure:
    """Mean largest softmax weight against d, with and without dividing the scores by √d."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(dims), y=list(unscaled), mode="lines+markers", name="softmax(q·Kᵀ)",
                             line=dict(color=ACCENT)))
    fig.add_trace(go.Scatter(x=list(dims), y=list(scaled), mode="lines+markers", name="softmax(q·Kᵀ/√d)",
                             line=dict(color=MUTED)))
    fig.add_hline(y=1 / n_keys, line_dash="dot", annotation_text="uniform (1/number of keys)")
    fig.update_layout(title="largest attention weight, averaged over random q and K", height=360,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(type="log", title="vector width d"),
                      yaxis=dict(range=[0, 1.05], title="mean largest weight"), legend=dict(orientation="h", y=-0.25))
    return fig


# --- page 6: attention ---------------------------------------------------------------------------


def attention_heatmap(z: np.ndarray, col_labels: Sequence[str], row_labels: Sequence[str], title: str,
                      mask: np.ndarray | None = None, diverging: bool = False, probabilities: bool = False,
                      x_title: str = "", y_title: str = "") -> go.Figure:
    """One step of attention: signed values on a red–blue scale centred on 0, weights on 0..1."""
    if probabilities:
        return heatmap(z, col_labels, row_labels, title, zmin=0, zmax=1, mask=mask, x_title=x_title, y_title=y_title)
    if diverging:
        return heatmap(z, col_labels, row_labels, title, colorscale="RdBu", zmid=0, mask=mask,
                       x_title=x_title, y_title=y_title)
    return heatmap(z, col_labels, row_labels, title, mask=mask, x_title=x_title, y_title=y_title)
