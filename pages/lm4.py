"""LM4: stacked transformer blocks with residual connections."""

from pages.shared import training_panel

training_panel.lm_page("lm4")
