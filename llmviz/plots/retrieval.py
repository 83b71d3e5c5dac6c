"""Figures for the vector-database page: chunk lengths, the hits' scores, the 2-D map of the chunks with
the question and its hits, exact search against the index (latency and recall), the index's
recall-versus-latency curve, and a retrieval-augmented prompt as the model reads it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from llmviz.plots.embeddings import HIGHLIGHT, NEIGHBOUR
from llmviz.plots.instruct import KINDS as TOKEN_KINDS, token_strip
from llmviz.plots.training import PALETTE

_MARGIN = dict(l=10, r=10, t=50, b=10)


def chunk_lengths(lengths: Sequence[int], size: int) -> go.Figure:
    """A histogram of chunk lengths in characters, with the size limit marked."""
    fig = go.Figure(go.Histogram(x=list(lengths), nbinsx=40, name="chunks",
                                 hovertemplate="%{x} characters<br>%{y} chunks<extra></extra>"))
    fig.add_vline(x=size, line=dict(color=HIGHLIGHT, dash="dash"), annotation_text="size limit")
    fig.update_layout(title=f"{len(lengths):,} chunks by length", xaxis_title="characters", yaxis_title="chunks",
                      height=280, margin=_MARGIN, bargap=0.05)
    return fig


def hit_scores(labels: Sequence[str], scores: Sequence[float]) -> go.Figure:
    """The hits' cosine similarities, best at the top."""
    labels = [f"{i + 1}. {s}" for i, s in enumerate(labels)]
    fig = go.Figure(go.Bar(x=list(scores), y=labels, orientation="h", marker_color=NEIGHBOUR,
                           hovertemplate="%{y}<br>cosine %{x:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Cosine similarity to the question", xaxis_title="cosine similarity",
                      xaxis_range=[min(0.0, min(scores, default=0.0)), 1.0],
                      height=max(200, 60 + 26 * len(labels)), margin=_MARGIN)
    return fig


def chunk_map(coords, sections: Sequence[str], labels: Sequence[str], query=None, hits: Sequence[int] = (),
              explained=None, total: int | None = None) -> go.Figure:
    """Every chunk as a point (PCA of the unit vectors), coloured by play or section; the question as a
    star, its hits ringed and numbered by rank."""
    coords = np.asarray(coords, dtype=float)
    fig = go.Figure()
    groups: list = sorted(set(sections))
    if len(groups) > 12:  # too many plays or sections for a legend: one colour
        groups = [None]
    for g in groups:
        idx = [i for i, s in enumerate(sections) if g is None or s == g]
        fig.add_trace(go.Scattergl(
            x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=g or "chunks",
            marker=dict(size=5, opacity=0.55), text=[labels[i] for i in idx],
            customdata=[sections[i] for i in idx],
            hovertemplate="%{customdata}<br>%{text}<extra></extra>"))
    hits = list(hits)
    if hits:
        fig.add_trace(go.Scatter(
            x=coords[hits, 0], y=coords[hits, 1], mode="markers+text", name="hits",
            marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=2.5)),
            text=[str(r + 1) for r in range(len(hits))], textposition="top center",
            hovertext=[labels[i] for i in hits], hovertemplate="hit %{text}<br>%{hovertext}<extra></extra>"))
    if query is not None:
        fig.add_trace(go.Scatter(x=[query[0]], y=[query[1]], mode="markers", name="question",
                                 marker=dict(symbol="star", size=18, color=HIGHLIGHT, line=dict(width=1, color="white")),
                                 hovertemplate="the question<extra></extra>"))
    ex = np.asarray(explained if explained is not None else [np.nan, np.nan], dtype=float)
    axis = [f"PC{i + 1}" + (f" ({ex[i]:.0%} of the variance)" if np.isfinite(ex[i]) else "") for i in range(2)]
    shown = f"{len(coords):,} of {total:,} chunks" if total and total > len(coords) else f"{len(coords):,} chunks"
    fig.update_layout(title=f"The table in 2-D (PCA): {shown}", xaxis_title=axis[0], yaxis_title=axis[1],
                      height=520, margin=_MARGIN, legend=dict(itemsizing="constant"))
    return fig


def exact_vs_index(exact_ms: float, index_ms: float, recall: float, k: int) -> go.Figure:
    """Latency of exact search and of the index side by side, the index's recall@k in the title."""
    fig = go.Figure(go.Bar(x=["exact (every row)", "approximate index"], y=[exact_ms, index_ms],
                           marker_color=["#4c78a8", NEIGHBOUR], text=[f"{exact_ms:.2f} ms", f"{index_ms:.2f} ms"],
                           textposition="outside", hovertemplate="%{x}<br>%{y:.3f} ms<extra></extra>"))
    fig.update_layout(title=f"Median latency · recall@{k} of the index: {recall:.0%}", yaxis_title="milliseconds",
                      height=320, margin=_MARGIN)
    return fig


def recall_latency(points, chosen=None, k: int = 10) -> go.Figure:
    """The index's recall@k against its median latency, one line per refine factor through the nprobes
    measured (each point labelled), exact search's latency as a vertical line, `chosen` (a point with
    nprobes, refine_factor, recall, ms) as a star."""
    fig = go.Figure()
    refines = list(dict.fromkeys(p.refine_factor for p in points))
    for i, r in enumerate(refines):
        line = sorted((p for p in points if p.refine_factor == r), key=lambda p: p.nprobes)
        fig.add_trace(go.Scatter(x=[p.ms for p in line], y=[p.recall for p in line], mode="lines+markers+text",
                                 name=f"refine {r}" if r else "no re-ranking", line=dict(color=PALETTE[i % 10]),
                                 text=[str(p.nprobes) for p in line], textposition="top left",
                                 hovertemplate="nprobes %{text}<br>%{x:.2f} ms<br>recall %{y:.1%}<extra></extra>"))
    exact = next((p.exact_ms for p in points), None) if points else getattr(chosen, "exact_ms", None)
    if exact:
        fig.add_vline(x=exact, line=dict(color="grey", dash="dash"), annotation_text=f"exact: {exact:.1f} ms")
    if chosen is not None:
        fig.add_trace(go.Scatter(x=[chosen.ms], y=[chosen.recall], mode="markers", name="your setting",
                                 marker=dict(symbol="star", size=18, color=HIGHLIGHT),
                                 hovertemplate=f"nprobes {chosen.nprobes}, refine {chosen.refine_factor or 'off'}"
                                               "<br>%{x:.2f} ms<br>recall %{y:.1%}<extra></extra>"))
    fig.update_layout(title=f"Recall@{k} against latency (each point: nprobes)", xaxis_title="median latency (ms)",
                      yaxis=dict(title=f"recall@{k} against exact search", tickformat=".0%", range=[0, 1.05]),
                      height=380, margin=_MARGIN)
    return fig


PROMPT_KINDS = {"forgotten": TOKEN_KINDS["forgotten"], "passage": ("a retrieved passage", "#ffd166"),
                "tag": TOKEN_KINDS["tag"], "read": ("the question and the template", "#c8c8c8")}


def prompt_strip(tokens, kinds, per_row: int = 24) -> go.Figure:
    """A prompt token by token: the retrieved passages highlighted, what lies outside the context marked."""
    return token_strip(tokens, kinds, per_row, legend=PROMPT_KINDS)
