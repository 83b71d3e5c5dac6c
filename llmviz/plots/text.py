"""Text coloured by the model's confidence: each generated token on a background from red (the model
gave it a low probability) to green (it was sure), with its probability and alternatives on hover.
A pure function: tokens and probabilities in, an HTML fragment out (st.html draws it)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from llmviz.whitespace import visible


def confidence_colour(p: float, alpha: float = 0.45) -> str:
    """A background readable under dark and light text: hue 0 (red, p = 0) to 120 (green, p = 1)."""
    p = min(1.0, max(0.0, float(p)))
    return f"hsla({120 * p:.0f}, 75%, 50%, {alpha})"


def coloured_tokens(tokens: Sequence[str], probs: Sequence[float], alternatives: Sequence[str] = (),
                    prompt: str = "") -> str:
    """An HTML fragment: the prompt plain, then each token on its confidence colour, numbered (#1, #2...)
    in its tooltip with its probability and `alternatives[i]` (the likeliest tokens, in words). Newlines
    show as ⏎ and still break the line; spaces show as ␣ only when a token is nothing else."""
    spans = []
    for i, (tok, p) in enumerate(zip(tokens, probs)):
        shown = tok.replace("\n", "⏎") if tok.strip() else visible(tok)
        tip = f"#{i + 1} · p = {p:.1%}" + (f" · likeliest: {alternatives[i]}" if i < len(alternatives) else "")
        spans.append(f'<span title="{html.escape(tip)}" style="background:{confidence_colour(p)};'
                     f'border-radius:3px;padding:0 1px;margin:0 1px 0 0">{html.escape(shown)}</span>'
                     + ("<br>" if "\n" in tok else ""))
    head = f'<span style="opacity:0.7">{html.escape(prompt).replace(chr(10), "<br>")}</span>' if prompt else ""
    legend = ('<div style="font-size:0.8em;opacity:0.8;margin-top:0.4em">background: the model\'s probability for '
              f'the token it wrote, <span style="background:{confidence_colour(0)}">&nbsp;low&nbsp;</span> '
              f'<span style="background:{confidence_colour(0.5)}">&nbsp;½&nbsp;</span> '
              f'<span style="background:{confidence_colour(1)}">&nbsp;sure&nbsp;</span>; hover a token for its '
              'alternatives</div>')
    return (f'<div style="font-family:monospace;line-height:1.9;word-break:break-all;max-height:320px;'
            f'overflow-y:auto">{head}{"".join(spans)}</div>{legend}')
