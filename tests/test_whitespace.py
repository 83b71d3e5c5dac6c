"""Whitespace made visible, the same way in every figure: the helper, the BPE spans and tables, and the
labels of the training figures."""

from llmviz.text.bpe import Merge
from llmviz.plots import bpe, training
from llmviz.text.whitespace import visible


def test_each_whitespace_character_gets_its_symbol():
    assert visible("a b\nc\td\r\n") == "a␣b⏎c⇥d␍⏎"
    assert visible(" the") == "␣the"  # a BPE token's leading space stays visible
    assert visible("") == "∅" and visible("plain") == "plain"


def test_bpe_spans_and_merge_table_use_the_symbols():
    html = bpe.token_spans_html([(1, b"a b"), (2, b"\n"), (3, b"\t")], show_whitespace=True)
    assert "a␣b" in html and "⏎&#10;" in html and "⇥" in html  # a newline still breaks the line
    assert "a b" in bpe.token_spans_html([(1, b"a b")])  # shown as typed when asked
    vocab = [bytes([i]) for i in range(256)] + [b" t"]
    merge = Merge(pair=(32, 116), id=256, token=b" t", count=9, n_tokens=100)
    rows = bpe.merge_rows([merge], vocab, query="␣t")  # "␣" in the search box matches a space
    assert [(r["left"], r["right"], r["new token"]) for r in rows] == [("␣", "t", "␣t")]


def test_training_figures_label_tokens_the_same_way():
    fig = training.probability_bars([0.5, 0.3, 0.2], [" ", "\n", "\t"])
    assert list(fig.data[0].x) == ["␣", "⏎", "⇥"]
