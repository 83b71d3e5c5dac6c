"""Figures of tutorial part 2: loss curves (live and overlaid), next-token probability bars, attention
heatmaps with the causal mask, the parameter count by component, the architecture diagram (Graphviz
DOT text) and the pictures of the "predicting the next token" page. Pure functions: data in, figure out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from llmviz.plots.common import PALETTE, category_colours, heatmap  # noqa: F401  PALETTE: other figures take it from here
from llmviz.text.whitespace import visible

X_TITLES = {"step": "training step", "elapsed": "wall time (s)"}


def loss_curves(series: Mapping[str, Sequence], x: str = "step", title: str = "", reference: Mapping[str, float] | None = None,
                height: int = 360, baseline: float | None = None, y_title: str = "cross-entropy loss (nats)",
                perplexity: bool = True) -> go.Figure:
    """Train (solid) and validation (dashed) loss of each named history of llmviz.training.record.Record rows,
    one colour per run, against the step or the wall time (x = "step" or "elapsed"); hovering a point
    gives its perplexity (e^loss) too, when the loss is a cross-entropy (`perplexity`).
    Several named runs get one legend entry each (its train trace, named after the run; the validation trace
    is "name · validation" and toggles with it); from three runs on, the legend stands beside the plot and
    scrolls, so that however many runs there are the plot keeps its height.
    `reference`: name -> a validation loss drawn as a dotted horizontal line (e.g. the tutorial's), named
    in the legend (labels written on the plot would pile up on each other and on the curves).
    `baseline`: the loss of a model that knows nothing, ln(vocabulary size), drawn as a dotted line."""
    if x not in X_TITLES:
        raise ValueError(f"x must be one of {', '.join(X_TITLES)}")
    fig = go.Figure()
    x_max = 0.0
    named = len(series) > 1 and any(series)  # one legend entry per run (one run: its train and validation)
    colours = category_colours(len(series))  # one colour per run, however many
    for i, (name, hist) in enumerate(series.items()):
        colour = colours[i]
        xs = [getattr(r, x) for r in hist]
        x_max = max([x_max] + xs)
        prefix = f"{name} · " if name else ""
        for field, dash, label in (("train_loss", "solid", "train"), ("val_loss", "dash", "validation")):
            ys = [getattr(r, field) if math.isfinite(getattr(r, field)) else None for r in hist]
            ppl = [math.exp(y) if y is not None and y < 700 else None for y in ys] if perplexity else None
            shown = not named or label == "train"
            fig.add_trace(go.Scatter(x=xs, y=ys, customdata=ppl, mode="lines+markers",
                                     name=name if named and label == "train" else prefix + label, showlegend=shown,
                                     legendgroup=name, line=dict(color=colour, dash=dash), marker=dict(size=4),
                                     hovertemplate=f"{prefix}{label}<br>{X_TITLES[x]} %{{x}}<br>loss %{{y:.3f}}"
                                                   + (" · perplexity %{customdata:.1f}" if perplexity else "")
                                                   + "<extra></extra>"))
    span = [0, x_max or 1]
    lines = [(name, value, "dot", "grey") for name, value in (reference or {}).items()]
    if baseline is not None and math.isfinite(baseline):
        lines.append((f"knows nothing: ln(vocabulary) = {baseline:.2f}", baseline, "dashdot", "#9467bd"))
    for name, value, dash, colour in lines:
        ppl = f" · perplexity {math.exp(value):.1f}" if perplexity and value < 700 else ""
        fig.add_trace(go.Scatter(x=span, y=[value, value], mode="lines", name=name, line=dict(dash=dash, color=colour, width=1.5),
                                 hovertemplate=f"{name}<br>loss {value:.3f}{ppl}<extra></extra>"))
    beside = len(series) >= 3
    legend = (dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top") if beside
              else dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    if named:
        legend["title"] = dict(text="solid: train · dashed: validation")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50 if title else 20, b=10),
                      xaxis_title=X_TITLES[x], yaxis_title=y_title, legend=legend)
    return fig


def probability_bars(probs, labels: Sequence[str], top: int = 20, chosen: int | None = None,
                     title: str = "Probability of each next token") -> go.Figure:
    """The `top` most likely tokens, most likely first; the chosen token's bar is highlighted."""
    p = np.asarray(probs, dtype=float)
    order = [i for i in np.argsort(-p, kind="stable")[:top] if p[i] > 0]  # top-k / top-p leave exact zeros
    colours = ["#e4572e" if i == chosen else "#1f77b4" for i in order]
    ys = [float(p[i]) for i in order]
    fig = go.Figure(go.Bar(x=[visible(labels[i]) for i in order], y=ys, marker_color=colours,
                           text=[f"{v:.1%}" for v in ys], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    # room above the tallest bar for its label ("99.7%" must not be cut by the top of the plot)
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=60, b=10), yaxis_title="probability",
                      yaxis=dict(range=[0, max(ys, default=0) * 1.18 + 0.02], tickformat=".0%"),
                      xaxis=dict(type="category"))
    return fig


def attention_heatmap(weights, tokens: Sequence[str], causal: bool, title: str = "",
                      annotate: bool | None = None) -> go.Figure:
    """One head's (T, T) attention weights: row = the position that looks, column = where it looks.
    With the causal mask, the cells above the diagonal are the hidden future, drawn grey with their weight,
    0 (their score was −∞: exp(−∞) = 0)."""
    w = np.asarray(weights, dtype=float)
    labels = [visible(t) for t in tokens]
    mask = np.triu(np.ones_like(w, dtype=bool), 1) if causal else None
    return heatmap(w, labels, labels, title, zmin=0.0, zmax=1.0, mask=mask, masked_text="0", x_title="attends to (key)",
                   y_title="position (query)", annotate=w.size <= 256 if annotate is None else annotate)


def param_breakdown(parts: Mapping[str, int], title: str = "Parameters by component") -> go.Figure:
    """A horizontal bar per component, in the order data flows through them (empty ones left out)."""
    items = [(k, v) for k, v in parts.items() if v]
    total = sum(v for _, v in items) or 1
    fig = go.Figure(go.Bar(y=[k for k, _ in items], x=[v for _, v in items], orientation="h",
                           text=[f"{v:,} ({v / total:.0%})" for _, v in items], textposition="auto",
                           marker_color="#1f77b4"))
    fig.update_layout(title=f"{title}: {total:,} in all", height=60 + 36 * max(1, len(items)),
                      margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"),
                      xaxis_title="parameters")
    return fig


# the diagram's colours in the app's light and dark themes (the background stays transparent)
DIAGRAM_THEMES = {
    "light": dict(font="#222222", edge="#555555", fill="#eef3fb", line="#7f9cc7", new_fill="#ffd8cc",
                  new_line="#e4572e", cluster="#999999", skip="#e4572e"),
    "dark": dict(font="#eeeeee", edge="#bbbbbb", fill="#1e2b3c", line="#7f9cc7", new_fill="#6b2a17",
                 new_line="#ff8a65", cluster="#888888", skip="#ff8a65"),
}


def architecture_dot(cfg, new: set[str] = frozenset(), dark: bool = False) -> str:
    """Graphviz DOT source of the model's data flow for st.graphviz_chart; `new` parts are highlighted
    (attention, mask, position, ffwd, blocks, residual, norm, dropout: a preset's new_parts). With residual connections, the
    block's input x skips past attention and past the feed-forward layer to the "+" that adds it back:
    those skip edges are the residual path. `dark`: colours for a dark background."""
    get = (lambda k: cfg[k]) if isinstance(cfg, Mapping) else (lambda k: getattr(cfg, k))
    n_layer, n_head, C = get("n_layer"), get("n_head"), get("n_embd")
    th = DIAGRAM_THEMES["dark" if dark else "light"]

    def node(name, label, part=None, shape="box"):
        style = (f'style="filled,rounded", fillcolor="{th["new_fill"]}", color="{th["new_line"]}", penwidth=2'
                 if part in new else f'style="filled,rounded", fillcolor="{th["fill"]}", color="{th["line"]}"')
        if shape == "plaintext":
            style = 'style=""'
        return f'  {name} [label="{label}", shape={shape}, {style}];'

    lines = ["digraph model {",
             f'  rankdir=TB; bgcolor="transparent"; fontcolor="{th["font"]}";',
             f'  node [fontname=Helvetica, fontsize=11, fontcolor="{th["font"]}"]; '
             f'edge [color="{th["edge"]}", fontcolor="{th["font"]}", fontname=Helvetica, fontsize=10];',
             node("ids", f"token ids (T ≤ {get('block_size')})", shape="plaintext"),
             node("tok", f"token embedding\\n{get('vocab_size')} × {C}")]
    flow = ["ids", "tok"]
    if get("pos_emb"):
        lines.append(node("pos", f"+ position embedding\\n{get('block_size')} × {C}", "position"))
        flow.append("pos")
    if get("dropout") > 0:
        lines.append(node("drop", f"dropout {get('dropout'):g}", "dropout"))
        flow.append("drop")
    residual = bool(get("residual"))
    blocks = ["  subgraph cluster_block {",
              f'    label="block × {n_layer}"; fontcolor="{th["font"]}"; style="rounded{",bold" if "blocks" in new else ""}"; '
              f'color="{th["new_line"] if "blocks" in new else th["cluster"]}";']
    inner = []
    if residual:  # the block's input, which the residual path carries past each sub-layer
        blocks.append("  " + node("x0", "x", shape="circle"))
        inner.append("x0")
    if get("layer_norm"):
        blocks.append("  " + node("ln1", "layer norm", "norm"))
        inner.append("ln1")
    heads = "1 attention head" if n_head == 1 else f"{n_head} attention heads"
    mask = "causal mask" if get("causal") else "NO mask: sees the future"
    blocks.append("  " + node("att", f"{heads}\\n({mask})", "mask" if "mask" in new else "attention"))
    inner.append("att")
    skips = []
    if residual:
        blocks.append("  " + node("res1", "+", "residual", shape="circle"))
        inner.append("res1")
        skips.append(("x0", "res1"))
    if get("ffwd") != "none":
        if get("layer_norm"):
            blocks.append("  " + node("ln2", "layer norm", "norm"))
            inner.append("ln2")
        ff = "Linear + ReLU" if get("ffwd") == "relu" else f"feed-forward\\n{C} → {get('ff_mult') * C} → {C}"
        blocks.append("  " + node("ff", ff, "ffwd"))
        inner.append("ff")
        if residual:
            blocks.append("  " + node("res2", "+", "residual", shape="circle"))
            inner.append("res2")
            skips.append(("res1", "res2"))
    blocks.append("  }")
    lines += blocks
    flow += inner
    if get("layer_norm"):
        lines.append(node("lnf", "final layer norm", "norm"))
        flow.append("lnf")
    lines += [node("head", f"linear head\\n{C} → {get('vocab_size')}"), node("soft", "softmax → probabilities"),
              node("next", "sample the next token", shape="plaintext")]
    flow += ["head", "soft", "next"]
    lines += [f"  {a} -> {b};" for a, b in zip(flow, flow[1:])]
    width = 2.5 if "residual" in new else 1.8
    for a, b in skips:
        # the residual path: x goes around the sub-layer and is added back (x + f(x))
        lines.append(f'  {a} -> {b} [style=bold, color="{th["skip"]}", penwidth={width}, '
                     f'xlabel="residual", fontcolor="{th["skip"]}"];')
    if n_layer > 1:
        lines.append(f'  {inner[-1]} -> {inner[0]} [style=dashed, label="next block", constraint=false];')
    lines.append("}")
    return "\n".join(lines)


def token_grid(rows: Sequence[Sequence[int]], decode, title: str = "", row_labels: Sequence[str] | None = None,
               highlight: tuple[int, int] | None = None) -> go.Figure:
    """A batch of token ids as a grid, each cell showing its token (hover: the id)."""
    z = np.asarray(rows, dtype=float)
    text = [[visible(decode([int(i)])) for i in r] for r in rows]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", colorscale="Blues", showscale=False,
                               xgap=2, ygap=2, y=list(row_labels) if row_labels else None,
                               hovertemplate="row %{y}, position %{x}<br>token %{text} (id %{z})<extra></extra>"))
    if highlight is not None:
        r, c = highlight
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color="#e4572e", width=3))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="position in the block", dtick=1)
    fig.update_layout(title=title, height=max(140, 50 + 26 * len(rows)), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def vectors(matrix, row_labels: Sequence[str], title: str, col_title: str = "dimension",
            col_labels: Sequence[str] | None = None, whitespace_rows: bool = True) -> go.Figure:
    """Rows of numbers (embeddings, block outputs, logits) on a diverging scale centred on 0. Row labels
    that are tokens show their whitespace (␣ ⏎); whitespace_rows=False keeps plain labels ("position 0")."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim == 1:
        m = m[None, :]
    cols = [visible(c) for c in col_labels] if col_labels is not None else [str(i) for i in range(m.shape[1])]
    rows = [visible(r) for r in row_labels] if whitespace_rows else [str(r) for r in row_labels]
    return heatmap(m, cols, rows, title, colorscale="RdBu", zmid=0.0,
                   x_title=col_title, annotate=m.size <= 200)
