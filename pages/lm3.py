"""LM3: LM2 plus a feed-forward layer after attention."""

from pages.shared import training_panel

training_panel.lm_page("lm3")
