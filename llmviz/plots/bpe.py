"""Views of BPE training (tutorial part 1, "tokenization by BPE"): coloured token spans, the merge
table, compression against the number of merges, the longest tokens. Pure functions, no Streamlit."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from llmviz.text.bpe import Merge, token_text
from llmviz.text.whitespace import visible

# translucent backgrounds: readable under dark and light text alike
SPAN_COLOURS = ("rgba(107,174,214,0.35)", "rgba(253,174,107,0.40)", "rgba(116,196,118,0.35)",
                "rgba(242,125,171,0.35)", "rgba(188,128,189,0.35)", "rgba(255,217,47,0.40)")


def token_label(token: bytes) -> str:
    """A token as a table or chart shows it: readable text, whitespace made visible."""
    return visible(token_text(token))


def token_spans_html(tokens: Sequence[tuple[int, bytes]], show_whitespace: bool = False) -> str:
    """Tokens as coloured spans, the id (and bytes) on hover, like Tiktokenizer. Everything is escaped,
    so any text is safe to show; newlines stay line breaks."""
    spans = []
    for k, (tid, token) in enumerate(tokens):
        text = token_text(token)
        shown = visible(text).replace("⏎", "⏎\n") if show_whitespace else text
        body = html.escape(shown, quote=True).replace("\n", "&#10;")
        tip = html.escape(f"id {tid} · {token_label(token)} · {len(token)} byte{'s' * (len(token) != 1)}", quote=True)
        colour = SPAN_COLOURS[k % len(SPAN_COLOURS)]
        spans.append(f'<span title="{tip}" data-id="{tid}" style="background:{colour};border-radius:3px;'
                     f'padding:1px 0;margin-right:1px">{body}</span>')
    return ('<div style="white-space:pre-wrap;word-break:break-word;font-family:monospace;line-height:1.9;'
            'font-size:0.95rem">' + "".join(spans) + "</div>")


def merge_rows(merges: Sequence[Merge], vocab: Sequence[bytes], query: str = "") -> list[dict]:
    """The merge table, one row per merge; `query` keeps the rows whose new token contains it
    (case-insensitive; "␣" or a space both match a space)."""
    q = query.replace("␣", " ").lower()
    rows = []
    for step, m in enumerate(merges, start=1):
        text = token_text(m.token)
        if q and q not in text.lower():
            continue
        rows.append({"step": step, "left": token_label(vocab[m.pair[0]]), "right": token_label(vocab[m.pair[1]]),
                     "new token": token_label(m.token), "id": m.id, "count": m.count})
    return rows


def compression_figure(merges: Sequence[Merge], n_bytes: int, n_chars: int, step: int | None = None) -> go.Figure:
    """Bytes per token and sequence length against the number of merges, with the character
    tokenizer (one token per character) as a dashed reference line."""
    x = list(range(len(merges) + 1))
    lengths = [n_bytes] + [m.n_tokens for m in merges]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("bytes per token (higher = more compression)", "sequence length in tokens"))
    fig.add_trace(go.Scatter(x=x, y=[n_bytes / n for n in lengths], name="BPE", line=dict(color="#1f77b4"),
                             hovertemplate="%{x} merges: %{y:.3f} bytes/token<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=lengths, name="BPE tokens", showlegend=False, line=dict(color="#1f77b4"),
                             hovertemplate="%{x} merges: %{y:,} tokens<extra></extra>"), row=2, col=1)
    ref = dict(color="#e4572e", dash="dash")
    fig.add_trace(go.Scatter(x=[0, x[-1]], y=[n_bytes / n_chars] * 2, name="character tokenizer", mode="lines",
                             line=ref, hovertemplate="characters: %{y:.3f} bytes/token<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, x[-1]], y=[n_chars] * 2, name="characters", mode="lines", line=ref,
                             showlegend=False, hovertemplate="characters: %{y:,} tokens<extra></extra>"), row=2, col=1)
    if step is not None:
        fig.add_vline(x=step, line=dict(color="grey", dash="dot"))
    fig.update_xaxes(title_text="merges learned", row=2, col=1)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def longest_tokens_figure(merges: Sequence[Merge], k: int = 15) -> go.Figure:
    """The k longest learned tokens (in bytes), longest on top; hover tells when each was learned."""
    top = sorted(merges, key=lambda m: (-len(m.token), m.id))[:k][::-1]
    fig = go.Figure(go.Bar(
        x=[len(m.token) for m in top], y=[f"{token_label(m.token)}  ({m.id})" for m in top], orientation="h",
        customdata=[[m.id - 255, m.count] for m in top],
        hovertemplate="%{y}<br>%{x} bytes<br>learned at merge %{customdata[0]}, seen %{customdata[1]:,} times"
                      "<extra></extra>"))
    fig.update_layout(title="longest tokens learned", height=max(200, 60 + 24 * len(top)),
                      margin=dict(l=10, r=10, t=40, b=10), xaxis_title="bytes")
    fig.update_yaxes(type="category")
    return fig
