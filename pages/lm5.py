"""LM5: pre-norm layer normalisation in each block and before the head, and dropout."""

from pages.shared import training_panel

training_panel.lm_page("lm5")
