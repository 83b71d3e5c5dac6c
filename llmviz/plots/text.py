"""Text coloured by the model's confidence: each generated token on a cell from red (the model gave it a
low probability) to green (it was sure), with its probability and alternatives on hover, and clickable.
Pure functions: tokens and probabilities in, a plotly figure out (st.plotly_chart(on_select=...) makes a
click on a token select it)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import NamedTuple

import plotly.graph_objects as go

from llmviz.text.whitespace import visible

TOKEN_LINE_PX = 30  # height of one line of tokens in token_grid


class Cell(NamedTuple):
    line: int
    start: int  # column of its first character
    shown: str  # the token as drawn (newline ⏎, a bare space ␣)


def shown_token(tok: str) -> str:
    """A token as one line of visible characters: newlines as ⏎, a token of spaces as ␣."""
    return tok.replace("\n", "⏎") if tok.strip() else visible(tok).replace("\n", "⏎")


def token_cells(tokens: Sequence[str], width: int = 80, start: int = 0) -> list[Cell]:
    """Lay tokens out like text in lines of `width` characters, the first one at column `start`; a token
    that would cross the end of a line starts the next one. Newlines show as ⏎ and do not break the
    line: the height stays bounded however many newlines the model writes."""
    cells, line, col = [], 0, start
    for tok in tokens:
        shown = shown_token(tok)
        n = max(1, len(shown))
        if col > 0 and col + n > width:
            line, col = line + 1, 0
        cells.append(Cell(line, col, shown))
        col += n
    return cells


def token_grid(tokens: Sequence[str], probs: Sequence[float], alternatives: Sequence[str] = (), prompt: str = "",
               selected: int | None = None, dark: bool = False, width: int = 80) -> go.Figure:
    """Generated text as a row of clickable cells, one per token, each on its confidence colour (red: the
    model gave it a low probability, green: it was sure), the prompt before them in grey. Hovering a token
    gives its number, probability and `alternatives[i]`; `selected` is drawn selected (the others faded).
    Trace 0 is the generated tokens (a click selects point i = token i); trace 1, the prompt, cannot be
    selected."""
    prompt_cells = token_cells([prompt], width) if prompt else []
    first = (prompt_cells[0].start + len(prompt_cells[0].shown)) if prompt_cells else 0
    if prompt_cells and first >= width:  # a long prompt: wrap it too, character by character
        prompt_cells = token_cells(list(shown_token(prompt)), width)
        first = prompt_cells[-1].start + 1
    offset = prompt_cells[-1].line if prompt_cells else 0
    cells = [Cell(c.line + offset, c.start, c.shown) for c in token_cells(tokens, width, first)]
    # solid cells, light on the light theme and dark on the dark one, so the characters stay readable
    light, text = (30, "#f4f4f4") if dark else (80, "#1a1a1a")
    colours = [f"hsl({120 * min(1.0, max(0.0, float(p))):.0f}, 65%, {light}%)" for p in probs]
    hover = [f"#{i + 1} {html.escape(c.shown)} · p = {p:.1%}"
             + (f"<br>likeliest: {html.escape(alternatives[i])}" if i < len(alternatives) else "")
             for i, (c, p) in enumerate(zip(cells, probs))]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        orientation="h", y=[c.line for c in cells], base=[c.start for c in cells],
        x=[max(1, len(c.shown)) for c in cells], text=[c.shown for c in cells], textposition="inside",
        insidetextanchor="middle", textfont=dict(family="monospace", size=14, color=text),
        marker=dict(color=colours, line=dict(width=1, color="rgba(128,128,128,0.6)")), width=0.86,
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", name="generated",
        selectedpoints=None if selected is None else [selected],
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.55)),
    ))
    if prompt_cells:
        fig.add_trace(go.Bar(
            orientation="h", y=[c.line for c in prompt_cells], base=[c.start for c in prompt_cells],
            x=[max(1, len(c.shown)) for c in prompt_cells], text=[c.shown for c in prompt_cells],
            textposition="inside", insidetextanchor="start",
            textfont=dict(family="monospace", size=14, color="#9a9a9a"),
            marker=dict(color="rgba(0,0,0,0)"), width=0.86, hoverinfo="skip", name="prompt",
        ))
    lines = 1 + max([c.line for c in cells + prompt_cells], default=0)
    fig.update_layout(
        barmode="overlay", showlegend=False, height=TOKEN_LINE_PX * lines + 20, margin=dict(l=4, r=4, t=10, b=10),
        uniformtext=dict(minsize=14, mode="show"), clickmode="event+select", dragmode=False,
        xaxis=dict(visible=False, range=[-0.2, width + 0.2], fixedrange=True),
        yaxis=dict(visible=False, range=[lines - 0.5, -0.5], fixedrange=True),
    )
    return fig
