"""Predicting the next token: (x, y) training pairs, a batch, the names, and one prompt through a model."""

import streamlit as st

from llmviz.concepts import next_token
from llmviz.plots import training as training_plots
from llmviz.text.tokenizers import CharTokenizer
from llmviz.text.whitespace import visible
from pages.shared import playground, session_runs, ui

st.title("Predicting the next token")
st.markdown(
    "A language model is trained on one task: given some tokens, give a probability to every token of the "
    "vocabulary for *what comes next*. The training examples come for free from any text: cut a window of "
    "`block_size` tokens **x**, and the targets **y** are the same window shifted by one. One window holds "
    "`block_size` examples at once: after x[0] comes y[0], after x[0..1] comes y[1], and so on."
)


def char_ids(corpus):
    """The character tokenizer and the text's ids, kept with the corpus itself (made once per text)."""
    return CharTokenizer(corpus.chars), corpus.char_ids


@st.cache_resource(show_spinner="Training the slides' tiny model…")
def slide_model():
    return next_token.slide_model()


tok, ids = char_ids(ui.current_corpus())
c1, c2, c3 = st.columns(3)
block = c1.slider("block_size", 2, 32, 8, key="nt_block", bind="query-params")
batch = c2.slider("batch_size", 1, 16, 4, key="nt_batch", bind="query-params")
high = max(0, min(len(ids) - block - 1, 1_000_000))
start = c3.number_input("Position in the text", 0, high, min(1000, high), key="nt_pos")
try:
    x, y = next_token.xy_block(ids, int(start), block)
except ValueError as e:
    st.error(f"The text is too short for this block size: {e}")
    st.stop()
ui.plot(training_plots.token_grid([x, y], tok.decode, "One block: x, and y = x shifted by one", ["x (input)", "y (target)"]),
         key="nt_block_grid")
st.dataframe({"the model sees": [visible(tok.decode(p.context)) for p in next_token.xy_pairs(ids, int(start), block)],
              "it must predict": [visible(tok.decode([p.target])) for p in next_token.xy_pairs(ids, int(start), block)]},
             hide_index=True, key="nt_pairs")
st.markdown(f"**A batch**: `batch_size` = {batch} windows drawn at random positions, stacked into a "
            f"({batch}, {block}) tensor of inputs and one of targets, as the trainer draws them.")
starts, xs, ys = next_token.batch_grid(ids, block, batch, seed=int(start))
left, right = st.columns(2)
with left:
    ui.plot(training_plots.token_grid(xs, tok.decode, "x", [f"@{s:,}" for s in starts]), key="nt_batch_x")
with right:
    ui.plot(training_plots.token_grid(ys, tok.decode, "y", [f"@{s:,}" for s in starts]), key="nt_batch_y")

st.subheader("The names")
runs = session_runs.usable()
last_name = list(runs)[-1] if runs else None
names = next_token.setting_names(block, batch, tok.vocab_size, runs[last_name].model_cfg if last_name else None,
                        runs[last_name].train_cfg if last_name else None)
st.dataframe(names, hide_index=True, key="nt_names")
st.caption("“On this page”: the sliders above and this text's characters. "
           + (f"“Your last run”: '{last_name}'." if last_name else "Train a model to see its values beside them."))

st.header("Follow one prompt through a model")
st.markdown("As in the tutorial's slides: token ids → embedding rows → attention → block output → logits → "
            "softmax → probabilities → a sampled token. The slides' model is tiny (`block_size` 3, a vocabulary "
            "of 6 words, `n_embd` 4) so every number can be read; your own trained models work too.")
SLIDES = "The slides' tiny model (6 words)"
choice = st.selectbox("Model", [SLIDES] + list(runs), key="nt_model")
if choice == SLIDES:
    model, mtok, _ = slide_model()
    default = next_token.SLIDE_PROMPT
    st.caption("Trained on \"the cat is under the table\" and \"the dog is under the table\"; vocabulary: "
               + ", ".join(mtok.words))
else:
    model, mtok = runs[choice].model, runs[choice].tokenizer
    default = playground.default_prompt(mtok)
c1, c2, c3 = st.columns(3)
prompt = c1.text_input("Prompt", default, key=f"nt_prompt_{choice}")
temperature = c2.slider("Temperature", 0.0, 2.0, 1.0, 0.05, key="nt_temp")
seed = c3.number_input("Sampling seed", 0, 10_000, 0, key="nt_seed")
try:
    t = next_token.trace(model, mtok.encode(prompt), mtok, temperature=temperature, seed=int(seed))
except ValueError as e:
    st.warning(f"Cannot use this prompt: {e}")
    st.stop()
labels = [mtok.decode([i]) for i in range(mtok.vocab_size)]
st.markdown("**1 · Token ids** " + " ".join(f"`{visible(s)}`→{i}" for s, i in zip(t.tokens, t.ids)))
st.markdown("**2 · Embedding rows**: each id picks its row of the token-embedding table"
            + (" and the position's row is added." if t.pos_emb is not None else "."))
cols = st.columns(2 if t.pos_emb is not None else 1)
with cols[0]:
    ui.plot(training_plots.vectors(t.token_emb, t.tokens, "token embedding rows"), key="nt_tok_emb")
if t.pos_emb is not None:
    with cols[1]:
        ui.plot(training_plots.vectors(t.pos_emb, [f"position {i}" for i in range(len(t.ids))], "position embedding rows",
                           whitespace_rows=False), key="nt_pos_emb")
for b, (att, out) in enumerate(zip(t.attention, t.block_out), start=1):
    st.markdown(f"**3 · Attention weights, block {b}** (row: the position that looks; grey: the hidden future, whose score −∞ becomes the weight 0)")
    cols = st.columns(min(4, len(att)))
    for h, w in enumerate(att):
        with cols[h % len(cols)]:
            ui.plot(training_plots.attention_heatmap(w, t.tokens, t.causal, f"head {h + 1}"), key=f"nt_att_{b}_{h}")
    st.markdown(f"**4 · Output of block {b}**: one vector per position")
    ui.plot(training_plots.vectors(out, t.tokens, f"block {b} output"), key=f"nt_out_{b}")
st.markdown("**5 · Logits** of the last position: one score per token of the vocabulary")
ui.plot(training_plots.vectors(t.logits, ["logits"], "", "next token", labels), key="nt_logits")
st.markdown(f"**6 · Softmax** (temperature {temperature:g}) turns them into probabilities")
ui.plot(training_plots.probability_bars(t.probs, labels, chosen=t.sampled), key="nt_probs")
st.metric("7 · Sampled next token", visible(mtok.decode([t.sampled])),
          f"probability {float(t.probs[t.sampled]):.1%} · uncertainty {next_token.entropy_bits(t.probs):.2f} bits",
          delta_color="off")
ui.code_expander(next_token.xy_pairs, next_token.trace)
