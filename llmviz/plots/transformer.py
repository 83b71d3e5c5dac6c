"""Figures of the transformer page (tutorial part 2, end): the encoder-decoder's diagram, held-out exact
match and BLEU as training goes, decoding step by step, cross- and self-attention heatmaps, and
contextual embeddings beside the static one. Pure functions: data in, figure (or DOT text) out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llmviz.plots.common import category_colours, heatmap
from llmviz.plots.training import DIAGRAM_THEMES, PALETTE

METRICS = {"exact_match": ("held-out exact match", "solid"), "bleu": ("held-out BLEU", "dash")}


def has_metrics(history: Sequence) -> bool:
    """Do these llmviz.training.record.Record rows carry translation scores (in Record.other)?"""
    return any(r.other and "exact_match" in r.other for r in history)


def metric_curves(series: Mapping[str, Sequence], height: int = 300) -> go.Figure:
    """Held-out exact match (%) and BLEU (0-100) of each named history of llmviz.training.record.Record rows
    (kept in Record.other by the run's `measure`)."""
    fig = go.Figure()
    for i, (name, hist) in enumerate(series.items()):
        rows = [r for r in hist if r.other and "exact_match" in r.other]
        prefix = f"{name} · " if name and len(series) > 1 else ""
        for key, (label, dash) in METRICS.items():
            fig.add_trace(go.Scatter(x=[r.step for r in rows], y=[r.other.get(key) for r in rows],
                                     mode="lines+markers", name=prefix + label, legendgroup=name,
                                     line=dict(color=PALETTE[i % len(PALETTE)], dash=dash), marker=dict(size=5),
                                     hovertemplate=f"{prefix}{label}<br>step %{{x}}<br>%{{y:.1f}}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=20, b=10), xaxis_title="training step",
                      yaxis=dict(title="% of sentences exactly right · BLEU", range=[0, 101]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


# the diagram's type, in points: the diagram fits half the page at 1400 px wide (about 460 px) unshrunk, and
# a point is 1.33 px on screen, so its labels are 12 px or more (tests/test_browser_truth.py measures them)
DIAGRAM_FONT = 12


def encoder_decoder_dot(cfg, dark: bool = False) -> str:
    """Graphviz DOT of the encoder-decoder: the encoder stack on the left, the decoder on the right,
    the memory flowing into every decoder block's cross-attention (highlighted: what LM5 lacks).
    Short lines, so that the diagram fits half a page without being shrunk; a transparent background
    and, with `dark`, colours for a dark page (the same themes as llmviz.plots.training.architecture_dot)."""
    get = (lambda k: cfg[k]) if isinstance(cfg, Mapping) else (lambda k: getattr(cfg, k))
    C, nh = get("n_embd"), get("n_head")
    th = DIAGRAM_THEMES["dark" if dark else "light"]

    def node(name: str, label: str, shape: str = "box", hot: bool = False) -> str:
        style = (f'style="filled,rounded", fillcolor="{th["new_fill"]}", color="{th["new_line"]}", penwidth=2' if hot
                 else f'style="filled,rounded", fillcolor="{th["fill"]}", color="{th["line"]}"')
        if shape == "plaintext":
            style = 'style=""'
        return f'  {name} [label="{label}", shape={shape}, {style}];'

    ff = f"feed-forward\\n{C} → {get('ff_mult') * C} → {C}"
    heads = "1 head" if nh == 1 else f"{nh} heads"
    lines = ["digraph encdec {",
             f'  rankdir=TB; compound=true; bgcolor="transparent"; nodesep=0.25; ranksep=0.3; fontcolor="{th["font"]}";',
             f'  node [fontname=Helvetica, fontsize={DIAGRAM_FONT}, fontcolor="{th["font"]}", margin="0.08,0.04"];',
             f'  edge [color="{th["edge"]}", fontcolor="{th["font"]}", fontname=Helvetica, fontsize={DIAGRAM_FONT}];',
             node("src", "French ids\\nle chat noir …", "plaintext"),
             node("semb", f"source embedding\\n{get('src_vocab_size')} × {C}\\n+ positions", hot=True),
             "  subgraph cluster_enc {",
             f'    label="encoder block × {get("n_encoder_layer")}"; fontname=Helvetica; fontsize={DIAGRAM_FONT}; '
             f'style=rounded; color="{th["new_line"]}";',
             "  " + node("esa", f"self-attention\\n{heads}, no mask:\\nsees both ways", hot=True),
             "  " + node("eff", ff),
             "  }",
             node("mem", "memory: one\\nvector per\\nFrench word", "ellipse", hot=True),
             node("tgt", "English ids\\n<BOS> the black …", "plaintext"),
             node("temb", f"target embedding\\n{get('vocab_size')} × {C}\\n+ positions"),
             "  subgraph cluster_dec {",
             f'    label="decoder block × {get("n_layer")}"; fontname=Helvetica; fontsize={DIAGRAM_FONT}; '
             f'style=rounded; color="{th["cluster"]}";',
             "  " + node("dsa", f"self-attention\\n{heads}, causal mask"),
             "  " + node("xa", "cross-attention\\nQ: the English\\nK, V: the memory", hot=True),
             "  " + node("dff", ff),
             "  }",
             node("head", f"norm, linear head\\n{C} → {get('vocab_size')}, softmax"),
             node("next", "the next English word\\n(appended, until <EOS>)", "plaintext"),
             "  src -> semb -> esa -> eff -> mem;", "  tgt -> temb -> dsa -> xa -> dff -> head -> next;",
             f'  mem -> xa [color="{th["skip"]}", penwidth=2, label=" K, V"];',
             "}"]
    return "\n".join(lines)


def decoding_steps(steps: Sequence, title: str = "Each step: the chosen word and its runners-up") -> go.Figure:
    """One column per decoding step: the chosen token's probability (dark) stacked under each runner-up's
    (lighter, labelled), so how sure the model was at each word reads at a glance."""
    if not steps:
        return go.Figure().update_layout(title=title, height=200)
    x = [f"{i + 1}. {s.token}" for i, s in enumerate(steps)]
    fig = go.Figure(go.Bar(x=x, y=[s.prob for s in steps], name="chosen", marker_color="#e4572e",
                           text=[f"{s.token}<br>{s.prob:.0%}" for s in steps], textposition="inside",
                           hovertemplate="%{x}: %{y:.1%}<extra>chosen</extra>"))
    depth = max(len(s.runners_up) for s in steps)
    for k in range(depth):
        ys = [s.runners_up[k][1] if k < len(s.runners_up) else 0.0 for s in steps]
        labels = [s.runners_up[k][0] if k < len(s.runners_up) else "" for s in steps]
        fig.add_trace(go.Bar(x=x, y=ys, name=f"runner-up {k + 1}", marker_color=PALETTE[0], opacity=0.75 - 0.12 * k,
                             text=[f"{w} {p:.0%}" if p >= 0.04 else "" for w, p in zip(labels, ys)],
                             textposition="inside", customdata=labels,
                             hovertemplate="%{customdata}: %{y:.1%}<extra>runner-up</extra>"))
    fig.update_layout(barmode="stack", title=title, height=340, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(title="probability", range=[0, 1.02]), showlegend=False,
                      xaxis=dict(type="category"))
    return fig


def attention_map(weights, rows: Sequence[str], cols: Sequence[str], title: str, row_title: str,
                  col_title: str, causal: bool = False) -> go.Figure:
    """One head's attention: row i says how much word i draws from each column word (rows sum to 1)."""
    w = np.asarray(weights, dtype=float)
    mask = np.triu(np.ones_like(w, dtype=bool), 1) if causal else None
    return heatmap(w, list(cols), list(rows), title, zmin=0.0, zmax=1.0, mask=mask, x_title=col_title,
                   y_title=row_title, annotate=w.size <= 200, fmt=".2f")


def attention_grid(weights, rows: Sequence[str], cols: Sequence[str], title: str, row_title: str = "",
                   col_title: str = "") -> go.Figure:
    """Every layer × head of an attention (n_layer, n_head, R, K) as small heatmaps (layers down, heads across)."""
    w = np.asarray(weights, dtype=float)
    n_layer, n_head = w.shape[:2]
    fig = make_subplots(rows=n_layer, cols=n_head, shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=[f"layer {i + 1} · head {j + 1}" for i in range(n_layer) for j in range(n_head)],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    rl, cl = _unique(rows), _unique(cols)
    for i in range(n_layer):
        for j in range(n_head):
            fig.add_trace(go.Heatmap(z=w[i, j], x=cl, y=rl, zmin=0, zmax=1, colorscale="Blues", showscale=False,
                                     hovertemplate=f"layer {i + 1} head {j + 1}<br>%{{y}} → %{{x}}: %{{z:.2f}}<extra></extra>"),
                          row=i + 1, col=j + 1)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_layout(title=title, height=140 + 220 * n_layer, margin=dict(l=10, r=10, t=70, b=10))
    if row_title:
        fig.update_yaxes(title_text=row_title, row=1, col=1)
    if col_title:
        fig.update_xaxes(title_text=col_title, row=n_layer, col=1)
    return fig


def _unique(labels: Sequence[str]) -> list[str]:
    """Repeated words ("the" ... "the") made distinct for a categorical axis: "the", "the·2"."""
    seen: dict[str, int] = {}
    out = []
    for s in labels:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s}·{seen[s]}")
    return out


def contextual_scatter(coords, groups: Sequence[str], hover: Sequence[str], word: str, explained=None) -> go.Figure:
    """A 2-D projection: the static embedding (first point, a star) beside the cloud of contextual
    vectors of the same word, coloured by the word before it ("" when it starts the sentence)."""
    xy = np.asarray(coords, dtype=float)
    axes = [f"PC{i + 1}" + (f" ({explained[i]:.0%} of variance)" if explained is not None else "") for i in range(2)]
    fig = go.Figure()
    kinds = sorted(set(groups))
    colours = category_colours(len(kinds))
    for k, g in enumerate(kinds):
        idx = [i for i, x in enumerate(groups) if x == g]
        fig.add_trace(go.Scatter(x=xy[1:][idx, 0], y=xy[1:][idx, 1], mode="markers",
                                 name=f"… {g} {word}" if g else f"{word} … (first word)",
                                 marker=dict(size=8, color=colours[k], opacity=0.85),
                                 text=[hover[i] for i in idx], hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[xy[0, 0]], y=[xy[0, 1]], mode="markers+text", name="static embedding",
                             marker=dict(size=20, symbol="star", color="#e4572e", line=dict(width=1, color="black")),
                             text=[f"'{word}' (embedding table)"], textposition="top center",
                             hovertemplate="the static embedding: the same in every sentence<extra></extra>"))
    fig.update_layout(title=f"'{word}': one static vector, one contextual vector per sentence", height=460,
                      xaxis_title=axes[0], yaxis_title=axes[1], margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(title="the word before it"))
    return fig


def cosine_histogram(to_static, between, word: str) -> go.Figure:
    """How alike the contextual vectors are: to each other (pairs) and to the static embedding."""
    b = np.asarray(between, dtype=float)
    pairs = b[np.triu_indices_from(b, 1)]
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=pairs, name="between two sentences' vectors", opacity=0.7, nbinsx=40,
                               histnorm="probability"))
    fig.add_trace(go.Histogram(x=np.asarray(to_static, dtype=float), name="contextual vs static", opacity=0.7,
                               nbinsx=40, histnorm="probability"))
    fig.update_layout(barmode="overlay", title=f"Cosine similarities of '{word}'", height=320,
                      xaxis=dict(title="cosine similarity", range=[-1, 1]), yaxis_title="share of pairs",
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
