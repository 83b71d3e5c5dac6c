"""Figure builders: pure functions that return plotly Figures, one module per part of the tutorial."""
