"""Plotly figures, built by pure functions from numbers (docs/DESIGN.md): no I/O here.

Figures are plain dictionaries in Plotly's JSON schema, drawn by plotly.js in the
browser. (Building them with plotly.graph_objects validates every property and
took two thirds of the funnel page's time.)
"""

from __future__ import annotations

import json
from typing import Any

from crm.sales.cohorts import Cohort
from crm.sales.pipeline import MEASURES, Funnel

WON_COLOR, STEP_COLOR, LOST_COLOR = "#2e7d32", "#1565c0", "#c62828"
FUNNEL_WIDTH = 0.74  # of the plot area; Closed Lost's bar takes the right-hand rest


def _title(text: str, x: float, anchor: str = "center") -> dict[str, Any]:
    return {
        "text": text, "x": x, "y": 1.0, "xref": "paper", "yref": "paper",
        "xanchor": anchor, "yanchor": "bottom", "showarrow": False, "font": {"size": 13},
    }  # fmt: skip


def funnel_figure(funnel: Funnel, measure: str, currency: str) -> dict[str, Any]:
    """The funnel of leads reaching each stage, with Closed Lost as a bar beside it.

    Each point's ``customdata`` is its stage id, for the page's click-through.
    """
    unit = "" if measure == "count" else f" ({currency})"
    gap = "<br>" if unit else " "  # a long title on two lines: it fits beside Closed Lost at 390 px
    steps = funnel.steps
    data: list[dict[str, Any]] = [
        {
            "type": "funnel",
            "y": [step.name for step in steps],
            "x": [step.reached.measure(measure) for step in steps],
            "customdata": [step.stage_id for step in steps],
            "texttemplate": "%{x:,.0f}<br>%{percentInitial:.0%}",
            "hovertemplate": "%{y}: %{x:,.0f}<extra></extra>",
            "marker": {"color": [WON_COLOR if s is steps[-1] else STEP_COLOR for s in steps]},
            "xaxis": "x",
            "yaxis": "y",
        }
    ]
    if funnel.lost is not None:
        lost = funnel.lost.here.measure(measure)
        data.append(
            {
                "type": "bar",
                "x": [funnel.lost.name],
                "y": [lost],
                "customdata": [funnel.lost.stage_id],
                "text": [f"{lost:,.0f}"],
                "textposition": "auto",
                "hovertemplate": "%{x}: %{y:,.0f}<extra></extra>",
                "marker": {"color": LOST_COLOR},
                "xaxis": "x2",
                "yaxis": "y2",
            }
        )
    layout = {
        "showlegend": False,
        "height": 420,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "font": {"family": "system-ui, sans-serif"},
        "xaxis": {"domain": [0, FUNNEL_WIDTH], "anchor": "y"},
        # automargin: room for the stage names, which a 10 px margin cut to "w", "ed".
        "yaxis": {"domain": [0, 1], "anchor": "x", "automargin": True},
        # The panel's title names its one bar: no tick label under it to cut at 390 px.
        "xaxis2": {"domain": [FUNNEL_WIDTH + 0.08, 1], "anchor": "y2", "showticklabels": False},
        "yaxis2": {"domain": [0, 1], "anchor": "x2"},
        "annotations": [
            # One title at each edge: centred over their panels, a phone's 390 px
            # made them overlap and ran "Closed Lost" off the right.
            _title(f"{MEASURES[measure]}{gap}reaching each stage{unit}", 0, anchor="left"),
            _title("Closed Lost", 1, anchor="right"),
        ],
    }
    return {"data": data, "layout": layout}


def to_json(figure: dict[str, Any]) -> str:
    r"""The figure for a ``<script type="application/json">`` block.

    Every ``<`` is written as ``\u003c`` (still the same JSON), so a stage named
    ``</script>`` cannot end the block.
    """
    return json.dumps(figure, separators=(",", ":")).replace("<", "\\u003c")


def forecast_figure(months: list[Any], currency: str) -> dict[str, Any]:
    """Open pipeline and weighted forecast by expected-close month (grouped bars)."""
    labels = [f"{m.month:%b %Y}" for m in months]
    return {
        "data": [
            {
                "type": "bar",
                "name": "Open pipeline",
                "x": labels,
                "y": [float(m.amount) for m in months],
                "marker": {"color": "#90caf9"},
                "hovertemplate": "%{x}: %{y:,.0f}<extra>Open pipeline</extra>",
            },
            {
                "type": "bar",
                "name": "Weighted forecast",
                "x": labels,
                "y": [float(m.weighted) for m in months],
                "marker": {"color": STEP_COLOR},
                "hovertemplate": "%{x}: %{y:,.0f}<extra>Weighted forecast</extra>",
            },
        ],
        "layout": {
            "barmode": "group",
            "height": 320,
            "margin": {"l": 60, "r": 10, "t": 30, "b": 40},
            "font": {"family": "system-ui, sans-serif"},
            "legend": {"orientation": "h", "y": 1.12},
            "yaxis": {"title": {"text": currency}, "separatethousands": True},
        },
    }


def cohort_figure(cohorts: list[Cohort], stages: list[str]) -> dict[str, Any]:
    """Per creation month (newest on top), the share of its leads that reached each stage."""
    shares = [[round(share * 100, 1) for share in cohort.shares()] for cohort in cohorts]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": stages,
                "y": [f"{cohort.month:%b %Y}" for cohort in cohorts],
                "z": shares,
                "text": [[f"{value:.0f}%" for value in row] for row in shares],
                "texttemplate": "%{text}",
                "customdata": [[cohort.leads] * len(stages) for cohort in cohorts],
                "hovertemplate": "%{y}: %{z:.1f}% of %{customdata:,} leads reached %{x}"
                "<extra></extra>",
                "colorscale": "Blues",
                "reversescale": True,  # Plotly's Blues runs dark to light: more is darker
                "zmin": 0,
                "zmax": 100,
                "showscale": False,
                "xgap": 2,
                "ygap": 2,
            }
        ],
        "layout": {
            "height": 90 + 26 * len(cohorts),
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "font": {"family": "system-ui, sans-serif"},
            # Stage names under the grid: at 390 px Plotly turns them, and its automargin
            # makes room below (above the grid, the turned names ran off the chart's top).
            "xaxis": {"automargin": True},
            "yaxis": {"autorange": "reversed", "automargin": True},
        },
    }
