"""Plotly figures, built by pure functions from numbers (DESIGN.md): no I/O here."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crm.pipeline import MEASURES, Funnel

WON_COLOR, STEP_COLOR, LOST_COLOR = "#2e7d32", "#1565c0", "#c62828"


def funnel_figure(funnel: Funnel, measure: str, currency: str) -> go.Figure:
    """The funnel of leads reaching each stage, with Closed Lost as a bar beside it.

    Each point's ``customdata`` is its stage id, for the page's click-through.
    """
    unit = "" if measure == "count" else f" ({currency})"
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.78, 0.22],
        horizontal_spacing=0.08,
        subplot_titles=(f"{MEASURES[measure]} reaching each stage{unit}", "Closed Lost"),
    )
    steps = funnel.steps
    figure.add_trace(
        go.Funnel(
            y=[step.name for step in steps],
            x=[step.reached.measure(measure) for step in steps],
            customdata=[step.stage_id for step in steps],
            texttemplate="%{x:,.0f}<br>%{percentInitial:.0%}",
            marker={"color": [WON_COLOR if s is steps[-1] else STEP_COLOR for s in steps]},
            hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
            name="Reached",
        ),
        row=1,
        col=1,
    )
    if funnel.lost is not None:
        figure.add_trace(
            go.Bar(
                x=[funnel.lost.name],
                y=[funnel.lost.here.measure(measure)],
                customdata=[funnel.lost.stage_id],
                marker={"color": LOST_COLOR},
                text=[f"{funnel.lost.here.measure(measure):,.0f}"],
                textposition="auto",
                hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
                name="Lost",
            ),
            row=1,
            col=2,
        )
    figure.update_layout(
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=420,
        separators=".,",
        font={"family": "system-ui, sans-serif"},
    )
    return figure
