"""Labels that must not be clipped or piled up (found in a tour of the app at 1400 px)."""

import math

import numpy as np

from llmviz.plots import part1, training


def test_a_tall_bars_label_has_room_above_it():
    fig = training.probability_bars([0.997, 0.003], ["a", "b"])
    assert fig.data[0].cliponaxis is False and fig.layout.yaxis.range[1] >= 0.997 * 1.15


def test_one_hot_growth_labels_and_axis():
    fig = part1.vector_length_figure(6, 0)
    labels = [t.text[0] for t in fig.data if t.mode == "markers+text"]
    assert labels == ["your dictionary", "GPT-2's vocabulary"]  # no extra words: no second label on the first
    assert list(fig.layout.yaxis2.range) == [0, 100] and list(fig.layout.yaxis2.tickvals) == [0, 25, 50, 75, 100]
    assert len([t for t in part1.vector_length_figure(6, 5000).data if t.mode == "markers+text"]) == 3


def test_reference_lines_are_named_in_the_legend_not_written_on_the_curves():
    from llmviz.training.record import Record

    hist = [Record(0, 4.2, 4.2, 3e-4, 0, 0), Record(100, 3.0, 3.1, 3e-4, 1e4, 5.0)]
    fig = training.loss_curves({"a": hist}, reference={"tutorial lm5: 2.102": 2.102, "tutorial lm4: 2.09": 2.09},
                               baseline=math.log(65))
    assert not fig.layout.annotations
    names = [t.name for t in fig.data]
    assert names[-3:] == ["tutorial lm5: 2.102", "tutorial lm4: 2.09", "knows nothing: ln(vocabulary) = 4.17"]
    assert "perplexity" in fig.data[0].hovertemplate and np.isclose(fig.data[0].customdata[1], math.exp(3.0))


def test_the_scores_column_leaves_its_row_labels_to_the_matrix_beside_it():
    fig = part1.column_vector(np.array([0.0, 1.0]), "q·Kᵀ", ["le", "chat"], "③ scores", show_row_labels=False)
    assert fig.layout.yaxis.showticklabels is False and fig.data[0].text[1][0] == "1.0"


def test_generated_tokens_are_laid_out_as_text_and_only_they_can_be_clicked():
    from llmviz.plots.text import token_cells, token_grid

    cells = token_cells(["ab", "\n", " ", "xyz", "q"], width=6)
    # a newline shows as ⏎ without breaking the line; a token that would cross the end starts the next one
    assert [(c.line, c.start, c.shown) for c in cells] == [(0, 0, "ab"), (0, 2, "⏎"), (0, 3, "␣"), (1, 0, "xyz"),
                                                           (1, 3, "q")]
    fig = token_grid(["ab", "c"], [0.0, 1.0], ["x 50%", "y 20%"], prompt="Hi ", selected=1, width=6)
    tokens, prompt = fig.data
    assert list(tokens.text) == ["ab", "c"] and list(tokens.base) == [3, 5] and list(tokens.selectedpoints) == [1]
    assert tokens.marker.color[0].startswith("hsl(0,") and tokens.marker.color[1].startswith("hsl(120,")
    assert "#2 c · p = 100.0%" in tokens.hovertext[1] and "likeliest: y 20%" in tokens.hovertext[1]
    assert list(prompt.text) == ["Hi "] and prompt.hoverinfo == "skip"  # shown, not clickable
    assert fig.layout.clickmode == "event+select"


def test_nineteen_runs_get_nineteen_colours_and_a_legend_beside_the_plot_not_over_it():
    from llmviz.training.record import Record

    hist = [Record(0, 4.2, 4.2, 3e-4, 0, 0), Record(100, 3.0, 3.1, 3e-4, 1e4, 5.0)]
    fig = training.loss_curves({f"run {i}": hist for i in range(19)})
    shown = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in shown] == [f"run {i}" for i in range(19)]  # one entry per run
    assert len({t.line.color for t in shown}) == 19
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x > 1  # outside the plotting area
    few = training.loss_curves({"a": hist, "b": hist})
    assert few.layout.legend.orientation == "h" and few.layout.height == fig.layout.height
