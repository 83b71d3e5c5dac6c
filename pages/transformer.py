"""The transformer: an encoder and a decoder that learn to translate French to English, live."""

from dataclasses import replace

import streamlit as st

from llmviz.io import checkpoint
from llmviz.tasks import seq2seq, translation
from llmviz.plots import training as training_plots
from llmviz.plots import transformer as transformer_plots
from llmviz.training.presets import PRESETS, preset_config
from llmviz.training.train import TrainingError
from llmviz.nn.encoder_decoder import EncoderDecoder
from llmviz.wording import plural
from pages.shared import run_view, session_runs, ui

PRESET, PREFIX = "translation", "tr"
preset = PRESETS[PRESET]
widget = run_view.widget

st.title("The transformer: encoder and decoder")
st.markdown(
    "Part 1 translated **le chat est sous la table** word by word with a dictionary. That cannot work in "
    "general: French puts most adjectives *after* the noun (*le chat noir* → *the black cat*), words agree in "
    "gender and number, *à côté du* is one idea in two words. The transformer of *Attention is all you need* "
    "solves it with two stacks of the blocks you already trained: an **encoder** reads the whole French "
    "sentence (its self-attention looks both ways), a **decoder** writes the English one token by token from "
    "`<BOS>` to `<EOS>` (causal self-attention, like LM5), and every decoder block adds **cross-attention**: its "
    "queries come from the English words written so far, its keys and values from the encoder's output."
)

# --- 1. the architecture --------------------------------------------------------------------------------
st.header("1 · Two stacks of the same blocks")
left, right = st.columns(2)
with left:
    st.graphviz_chart(training_plots.architecture_dot(preset_config("lm5", 65), dark=ui.dark()))
    st.caption("**Decoder-only** (LM5, the GPT family): one stack, causal self-attention, predicts the next token.")
diagram = right.empty()  # drawn once the settings below are read
right.caption("**Encoder–decoder** (this page, with the settings below): highlighted, what LM5 lacks: a source "
              "side read both ways, and cross-attention from every decoder block to its output.")
st.table({  # a table, not a grid: every cell wraps, nothing is cut off
    "family": ["encoder-only", "decoder-only", "encoder–decoder"],
    "what it does": ["reads a whole text into contextual vectors (classify, search, tag)",
                     "continues a text one token at a time (chat, code, the LM pages)",
                     "reads one sequence, writes another (translate, summarise, transcribe)"],
    "famous models": ["BERT, RoBERTa, DistilBERT, the embedding models of vector search",
                      "GPT-2, GPT-3/4, Llama, Mistral, Claude-style chat models",
                      "the original Transformer (2017), T5, BART, Marian/NLLB translators, Whisper"],
}, hide_index=True)

# --- 2. the language ------------------------------------------------------------------------------------
st.header("2 · A small French → English language")
corpus = seq2seq.corpus()
tok = corpus.tokenizer
st.markdown(
    f"No parallel corpus is downloaded: a grammar (`llmviz.tasks.translation`) generates sentence pairs from a seed: "
    f"{len(translation.NOUNS)} nouns, {len(translation.ADJECTIVES)} adjectives (most placed after the noun), "
    f"determiners that agree, six prepositions, three verbs with agreement, two conjunctions. "
    f"**{len(corpus.train):,}** training pairs; **{len(corpus.heldout):,}** held-out pairs that each use an "
    f"adjective–noun combination never seen in training ({len(corpus.heldout_combos)} such combinations), so "
    f"the held-out scores measure generalisation, not memory. Vocabularies: {tok.source.vocab_size} French and "
    f"{tok.target.vocab_size} English tokens, each with `<PAD>` `<BOS>` `<EOS>` `<UNK>`."
)
shown = [("training", p) for p in corpus.train[:6]] + [("held out", p) for p in corpus.heldout[:6]]
st.dataframe({"set": [s for s, _ in shown], "French": [p.fr for _, p in shown], "English": [p.en for _, p in shown]},
             hide_index=True, key="tr_examples")

# --- 3. training ----------------------------------------------------------------------------------------
st.header("3 · Train it live")
base, tut = preset.model, preset.train
c = st.columns(4)
n_enc = widget(c[0].slider, "Encoder layers", f"{PREFIX}_enc", base.n_encoder_layer, min_value=1, max_value=4)
n_dec = widget(c[1].slider, "Decoder layers", f"{PREFIX}_dec", base.n_layer, min_value=1, max_value=4)
n_embd = widget(c[2].select_slider, "n_embd", f"{PREFIX}_embd", base.n_embd, options=[16, 32, 48, 64, 96, 128])
n_head = widget(c[3].slider, "Heads", f"{PREFIX}_heads", base.n_head, min_value=1, max_value=8,
                help="n_embd must be divisible by the number of heads.")
c = st.columns(4)
lr = widget(c[0].select_slider, "Learning rate", f"{PREFIX}_lr", tut.learning_rate,
            options=[3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2], format_func=lambda v: f"{v:g}",
            help="Peak of the schedule: a 50-step warm-up, then a cosine decay to a tenth of it.")
iters = widget(c[1].slider, "Steps", f"{PREFIX}_iters", tut.max_iters, min_value=50, max_value=3000, step=50)
batch = widget(c[2].select_slider, "Sentence pairs per step", f"{PREFIX}_batch", tut.batch_size,
               options=[16, 32, 64, 128])
interval = widget(c[3].select_slider, "Evaluate every", f"{PREFIX}_interval", tut.eval_interval,
                  options=[25, 50, 100, 200, 500], help="Losses, held-out exact match and BLEU, every this many steps.")
model_cfg = replace(base, n_encoder_layer=n_enc, n_layer=n_dec, n_embd=n_embd, n_head=n_head)
train_cfg = replace(tut, learning_rate=lr, min_lr=lr / 10, max_iters=iters, batch_size=batch,
                    eval_interval=min(interval, iters), device=ui.current_device())
problems = model_cfg.problems() + train_cfg.problems()
diagram.graphviz_chart(transformer_plots.encoder_decoder_dot(replace(model_cfg, vocab_size=tok.target.vocab_size,
                                                     src_vocab_size=tok.source.vocab_size), dark=ui.dark()))
for p in problems:
    st.warning(p, icon=":material/block:")


def start() -> str | None:
    try:
        with st.spinner("Building the model…"):
            run = seq2seq.new_run(model_cfg, train_cfg, corpus, preset=PRESET)
    except TrainingError as e:
        st.error(f"Cannot train: {e}", icon=":material/error:")
        return None
    name = session_runs.add(run, "transformer")
    ui.start_job(run)  # stops by itself once this tab is gone
    return name


name = st.session_state.get(f"{PREFIX}_current")
run = session_runs.get(name)
run_view.controls(PREFIX, run, start, problems, train_cfg.max_iters)
if run is None:
    st.info("Press **Train**: at the default settings, 90 % of the held-out sentences come out exactly right after "
            "about 600 of the 1,000 steps (bench/bench_translation.py). The progress bar says the time left, measured "
            "as it trains; the loss curves, the held-out exact match and BLEU, and a few translations appear here as "
            "it learns.", icon=":material/info:")
else:
    st.caption(f"Run **{name}** · {run.n_params:,} parameters · {run.device.upper()}"
               + (f" · {plural(run.threads, 'thread')}" if run.device == "cpu" else ""))
    run_view.watch([name], PREFIX)
    st.caption("Validation = the held-out sentences. Exact match: the share of them translated word for word right. "
               "BLEU (by sacrebleu): how many of the reference's 1- to 4-word sequences the translation contains, "
               "0 to 100.")

if run is None or not run.usable:
    st.caption("Once a model has trained (or is stopped), translate your own sentences below.")
    ui.code_expander(EncoderDecoder, seq2seq.PairBatches)
    st.stop()

model = run.model
st.download_button("Save this model (.safetensors)", checkpoint.run_to_bytes(run, extra=seq2seq.language_of(run)),
                   file_name="transformer.safetensors", key=f"{PREFIX}_save", icon=":material/download:",
                   on_click="ignore")

# --- 4. translating ---------------------------------------------------------------------------------------
st.header("4 · Translate, token by token")
sentence = st.text_input("A French sentence", "le chat noir est sous la table", key=f"{PREFIX}_sentence",
                         max_chars=300, persist_state="session")  # kept while the learner visits other pages
words = translation.words_fr(sentence)
unknown = {w: translation.known_or_closest(w, tok.source) for w in words if w not in tok.source.index}
if unknown:
    st.warning("Words the model never saw: " + "; ".join(
        f"**{w}** (closest known word by Levenshtein distance: **{near}**, {d} edit{'s' * (d != 1)})"
        for w, (_, near, d) in unknown.items()), icon=":material/spellcheck:")
    if st.toggle("Replace them by the closest known word (Part 1's trick)", value=True, key=f"{PREFIX}_fix"):
        words = [unknown[w][1] if w in unknown else w for w in words]
        st.caption("Translating: " + translation.render_fr(words))
    else:
        st.caption("Unknown words are read as `<UNK>`: the model has no vector for them.")
if len(words) > model.config.src_block_size:
    st.warning(f"Only the first {model.config.src_block_size} words are read (the model's source length).")
if not words:
    st.info("Type a French sentence, e.g. *les petites souris grises sont à côté du chien*.")
    st.stop()
text = translation.render_fr(words)
tr = seq2seq.trace(model, run.tokenizer, text)
st.markdown("**" + " ".join(tr.out_words) + "**")
ui.plot(transformer_plots.decoding_steps(tr.steps), key=f"{PREFIX}_steps")
st.caption("Greedy decoding: at each step the decoder sees the French sentence (through cross-attention) and the "
           "English words so far, and the most likely next word is appended; it stops at `<EOS>`.")
width = st.slider("Beam search width", 1, 8, 3, key=f"{PREFIX}_beam",
                  help="Keep the k most likely partial translations at each step instead of one; width 1 is greedy.",
                  persist_state="session")
beams = seq2seq.beam_translations(model, run.tokenizer, text, width)
st.dataframe({"translation": [b[0] for b in beams], "probability": [f"{b[1]:.2%}" for b in beams]},
             hide_index=True, key=f"{PREFIX}_beams")

# --- 5. attention ---------------------------------------------------------------------------------------
st.header("5 · Where each English word looks: cross-attention")
st.markdown("Row: the step that writes that English word; column: a French word; each row sums to 1. Look for "
            "the reordering: the step that writes the adjective looks at the French adjective *after* the noun "
            "(*noir* for *black*), and the step that writes the noun at the noun.")
ui.plot(transformer_plots.attention_grid(tr.cross_attention, [s.token for s in tr.steps], tr.src_words,
                          "Cross-attention, every layer and head", "writing", "French"), key=f"{PREFIX}_cross")
st.subheader("The encoder's self-attention")
st.markdown("No mask: each French word draws from the words before *and after* it.")
ui.plot(transformer_plots.attention_grid(tr.encoder_attention, tr.src_words, tr.src_words, "Encoder self-attention",
                          "French word", "draws from"), key=f"{PREFIX}_enc_att")

# --- 6. contextual embeddings ---------------------------------------------------------------------------
st.header("6 · Contextual embeddings")
st.markdown("The embedding table gives a word one vector, whatever the sentence. The encoder's output gives it "
            "one vector *per sentence*. Here the word's encoder outputs from many training sentences, projected to "
            "2-D beside its row of the embedding table (the star), coloured by the word before it: the clusters "
            "are its roles (subject at the start, object of a preposition or of a verb …).")
c1, c2 = st.columns(2)
word = c1.selectbox("Source word", ["la", "est", "table", "le", "chat", "sous", "noir", "les"], key=f"{PREFIX}_word",
                    persist_state="session")
limit = c2.slider("Sentences", 20, 300, 150, step=10, key=f"{PREFIX}_ctx_n", persist_state="session")
ctx = seq2seq.contextual(model, run.tokenizer, word, [p.fr for p in corpus.train], limit)
if len(ctx.vectors) < 3:
    st.info(f"'{word}' occurs in too few sentences to draw.")
else:
    coords, explained = seq2seq.project_contextual(ctx)
    to_static, between = seq2seq.cosines(ctx)
    left, right = st.columns([3, 2])
    with left:
        ui.plot(transformer_plots.contextual_scatter(coords, ctx.prev_words, ctx.sentences, word, explained), key=f"{PREFIX}_ctx")
    with right:
        ui.plot(transformer_plots.cosine_histogram(to_static, between, word), key=f"{PREFIX}_cos")
        n = len(ctx.vectors)
        mean_between = (between.sum() - n) / max(1, n * (n - 1))
        st.metric("Mean cosine between two sentences' vectors", f"{mean_between:.2f}")
        st.metric("Mean cosine to the static embedding", f"{to_static.mean():.2f}")
    st.caption("The static row and the encoder's outputs live in different spaces (the outputs went through "
               "attention, feed-forward layers and a final layer norm), so their distance says little; what "
               "matters is that one static point became a cloud whose shape follows the context.")
ui.code_expander(EncoderDecoder, seq2seq.PairBatches, seq2seq.greedy, seq2seq.beam_search, seq2seq.contextual)
