"""Figures of tutorial part 4: a served model's requests over time."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go


def request_timeline(entries: Sequence, start: float | None = None) -> go.Figure:
    """One marker per request (llmviz.serving.request_log.LogEntry): when it ended, how long it took, marker size
    by tokens generated; refused requests in red. Requests that overlap in time were batched together."""
    start = start if start is not None else (min((e.time - e.seconds for e in entries), default=0.0))
    fig = go.Figure()
    for ok, name, color in ((True, "answered", "#1f77b4"), (False, "refused", "#d62728")):
        rows = [e for e in entries if (e.status < 400) == ok]
        fig.add_trace(go.Scatter(
            x=[e.time - start for e in rows], y=[1000 * e.seconds for e in rows], mode="markers", name=name,
            marker=dict(color=color, size=[6 + min(24, e.completion_tokens ** 0.5) for e in rows], opacity=0.7),
            customdata=[[e.endpoint, e.status, e.prompt_tokens, e.completion_tokens, e.detail] for e in rows],
            hovertemplate="%{customdata[0]} · %{customdata[1]}<br>%{customdata[2]} tokens in, %{customdata[3]} out"
                          "<br>%{y:.0f} ms<br>%{customdata[4]}<extra></extra>"))
    fig.update_layout(title="Requests: latency as they ended (size: tokens generated)", height=320,
                      xaxis_title="seconds since the server started", yaxis_title="latency (ms)",
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h"))
    return fig
