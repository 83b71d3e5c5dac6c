"""LM2: several attention heads and a learned position embedding."""

from pages.shared import training_panel

training_panel.lm_page("lm2")
