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
    from llmviz.train import Record

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
