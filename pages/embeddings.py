"""Embeddings: word2vec and an autoencoder trained live, projections, neighbours, word arithmetic."""

import streamlit as st

from llmviz.concepts import embeddings
from llmviz.concepts import word2vec
from llmviz.plots import embeddings as embeddings_plots
from llmviz.text.whitespace import visible
from pages.shared import session_runs, ui

JOB = "emb_job"  # the word2vec Job of this session

st.title("Embeddings: dense vectors for tokens")
st.markdown(
    "A one-hot vector says *which* token it is and nothing else: every pair of tokens is equally far apart. "
    "An **embedding** gives each token a short dense vector, learned so that tokens used alike end up close. "
    "**word2vec** learns it by asking each word's vector to score high against the words seen around it and low "
    "against random words (*skip-gram with negative sampling*). The rows of a language model's embedding table "
    "are learned the same way, as a side effect of predicting the next token."
)


@st.cache_data(show_spinner=False, max_entries=4)
def words_of(text: str) -> list[str]:
    return word2vec.word_tokens(text)


@st.cache_data(show_spinner=False, max_entries=16)
def vocab_or_error(text: str, min_count: int, cap: int):
    try:
        return word2vec.build_vocab(words_of(text), min_count, cap), None
    except embeddings.EmbeddingError as e:
        return None, str(e)


@st.cache_data(show_spinner="Projecting…", max_entries=16)
def projected(vectors, labels: tuple, method: str, dims: int):
    return embeddings.project(vectors, labels, method, dims)


@st.cache_data(show_spinner="Training the autoencoder…", max_entries=8)
def autoencoder(n_words: int, bottleneck: int, steps: int):
    return embeddings.train_autoencoder(n_words, bottleneck, steps)


def explore(vectors, vocab, prefix: str):
    """Projection with a highlighted word, its neighbours, a search box and word arithmetic."""
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Projection", ["pca", "tsne"], format_func=str.upper, horizontal=True, key=f"{prefix}_method")
    dims = c2.radio("Dimensions", [2, 3], horizontal=True, key=f"{prefix}_dims")
    cap = min(len(vocab), embeddings.TSNE_MAX_POINTS if method == "tsne" else len(vocab))
    n = c3.slider("Words shown (most frequent first)", min(word2vec.MIN_VOCAB + 1, cap), cap, min(300, cap), key=f"{prefix}_n")
    word = st.text_input("Look up a word (its nearest neighbours are highlighted)", "king" if "king" in vocab else vocab.words[0],
                         key=f"{prefix}_word")
    try:
        i = vocab.id(word)
        near = embeddings.neighbours(vectors, vocab, word, k=10)
    except embeddings.EmbeddingError as e:
        st.warning(str(e))
        found = vocab.search(word)
        if found:
            st.caption("Words containing it: " + ", ".join(found))
        i, near = None, []
    proj = projected(vectors[:n], tuple(vocab.words[:n]), method, dims)
    left, right = st.columns([3, 1])
    with left:
        shown_near = [vocab.index[w] for w, _ in near if vocab.index[w] < n]
        ui.plot(embeddings_plots.projection_scatter(proj.coords, proj.labels, highlight=i if i is not None and i < n else None,
                                      neighbours=shown_near, explained=proj.explained, method=method),
                 key=f"{prefix}_scatter")
        if i is not None and i >= n:
            st.caption(f"'{word}' is word number {i + 1}: show more words to see it in the plot.")
    with right:
        if near:
            st.markdown(f"**Nearest to '{word}'** (cosine)")
            st.dataframe({"word": [w for w, _ in near], "cosine": [round(s, 3) for _, s in near]},
                         hide_index=True, key=f"{prefix}_near")
        if proj.explained is not None:
            ui.plot(embeddings_plots.explained_variance_bar(proj.explained), key=f"{prefix}_ev")
    st.markdown("**Word arithmetic** a − b + c: which words are nearest to the result?")
    a, b, c = st.columns(3)
    wa = a.text_input("a", "king", key=f"{prefix}_a")
    wb = b.text_input("− b", "man", key=f"{prefix}_b")
    wc = c.text_input("+ c", "woman", key=f"{prefix}_c")
    try:
        result = embeddings.analogy(vectors, vocab, wa, wb, wc, k=5)
        st.write(f"{wa} − {wb} + {wc} ≈ " + ", ".join(f"**{w}** ({s:.2f})" for w, s in result))
        st.caption("The famous king − man + woman ≈ queen needs vectors trained on millions of words; "
                   "on a play or two, expect neighbours of the words rather than neat analogies.")
    except embeddings.EmbeddingError as e:
        st.warning(str(e))


corpus = ui.current_corpus()
# only the open tab runs (on_change="rerun"): the autoencoder trains, and the charts are drawn, when their tab
# is opened, not on every visit; the widgets keep their values while another tab is open (persist_state)
tab_w2v, tab_ae, tab_models = st.tabs(["word2vec, trained live", "An autoencoder", "Your models' embedding tables"],
                                      key="emb_tab", on_change="rerun")
KEEP = {"persist_state": "page"}
VOCAB_DEFAULTS = {"emb_min_count": 5, "emb_cap": 2000}  # the word2vec tab's vocabulary, read by the autoencoder's


def vocabulary():
    return vocab_or_error(corpus.text, *(st.session_state.get(k, v) for k, v in VOCAB_DEFAULTS.items()))


if tab_w2v.open:
    with tab_w2v:
        c = st.columns(3)
        min_count = c[0].slider("Minimum count of a word", 1, 50, VOCAB_DEFAULTS["emb_min_count"], key="emb_min_count",
                                **KEEP)
        cap = c[1].slider("Vocabulary cap", 50, 5000, VOCAB_DEFAULTS["emb_cap"], step=50, key="emb_cap", **KEEP)
        window = c[2].slider("Context window (each side)", 1, 8, 2, key="emb_window", **KEEP)
        dim = c[0].slider("Embedding dimension", 2, 128, 50, key="emb_dim", **KEEP)
        negatives = c[1].slider("Negative samples per pair", 1, 20, 5, key="emb_negatives", **KEEP)
        epochs = c[2].slider("Epochs", 1, 30, 5, key="emb_epochs", **KEEP)
        vocab, error = vocabulary()
        if error:
            st.error(error)
        else:
            st.caption(f"{corpus.name}: " + word2vec.vocab_note(vocab, min_count, cap))
        job = st.session_state.get(JOB)
        running = job is not None and job.running
        start, stop = ui.train_stop_buttons("emb", running, vocab is not None)
        if start:
            cfg = word2vec.Word2VecConfig(min_count=min_count, max_vocab=cap, window=window, dim=dim, negatives=negatives,
                                   epochs=epochs, device=ui.current_device())
            st.session_state[JOB] = ui.start_job(word2vec.word2vec_job(words_of(corpus.text), cfg))
            st.rerun()  # redraw the buttons: Stop enabled, Train disabled
        if stop:
            job.stop()
        ui.watch_job(JOB, lambda snap: ui.plot(embeddings_plots.loss_curve(snap.history), key="emb_loss"),
                      idle="Press **Train** to learn word vectors from the current text; the loss curve draws live.")
        if job is not None and not job.running and job.result is not None:
            st.subheader("Explore the learned vectors")
            explore(job.result.vectors, job.result.vocab, "emb")

if tab_ae.open:
    with tab_ae:
        st.markdown(
            "Squeeze each word's one-hot row (as long as the vocabulary) through a **bottleneck** of a few numbers, "
            "then ask a decoder to give the word back. When every word comes back, the few numbers carry the same "
            "information as the long one-hot row: they are a dense code for the word."
        )
        c = st.columns(3)
        n_words = c[0].slider("Words (one-hot length)", 5, 300, 50, key="ae_words", **KEEP)
        bottleneck = c[1].slider("Bottleneck size", 1, 16, 2, key="ae_bottleneck", **KEEP)
        steps = c[2].slider("Training steps", 50, 2000, 500, step=50, key="ae_steps", **KEEP)
        vocab, _ = vocabulary()
        if vocab is not None:
            ae = autoencoder(min(n_words, len(vocab)), bottleneck, steps)
            left, right = st.columns(2)
            with left:
                ui.plot(embeddings_plots.autoencoder_curve(ae.history), key="ae_curve")
                acc = ae.history[-1][2]
                st.metric("Words reconstructed exactly", f"{acc:.0%}",
                          f"{bottleneck} numbers instead of {len(ae.codes)}", delta_color="off", delta_arrow="off")
            with right:
                labels = vocab.words[:len(ae.codes)]
                if bottleneck in (2, 3):
                    ui.plot(embeddings_plots.projection_scatter(ae.codes, labels, method="code", title="The codes themselves"),
                             key="ae_codes")
                elif bottleneck > 3:
                    proj = projected(ae.codes, tuple(labels), "pca", 2)
                    ui.plot(embeddings_plots.projection_scatter(proj.coords, labels, explained=proj.explained,
                                                  title="The codes, by PCA"), key="ae_codes")
                else:
                    st.caption("A bottleneck of one number puts the words on a line: the decoder can only tell "
                               "apart the two ends.")
        else:
            st.info("The autoencoder uses the word2vec tab's vocabulary: fix the settings there first.")

if tab_models.open:
    with tab_models:
        st.markdown("Each model trained in this session has its own token-embedding table. Project it: do vowels, "
                    "digits and punctuation cluster?")
        runs, busy = session_runs.usable(), session_runs.busy()  # never read a model while it trains
        if busy:
            st.caption(f"Still training, shown once finished or stopped: {', '.join(busy)}.")
        if not runs:
            st.info("No model has been trained in this session yet: train one on a Part 2 page, then come back.")
        else:
            name = st.selectbox("Model", list(runs), key="emb_run")
            m1, m2 = st.columns(2)
            method = m1.radio("Projection", ["pca", "tsne"], format_func=str.upper, horizontal=True, key="emb_run_method")
            dims = m2.radio("Dimensions", [2, 3], horizontal=True, key="emb_run_dims")
            try:
                tok = runs[name].tokenizer
                labels = [visible(tok.decode([i])) for i in range(tok.vocab_size)]
                weight = embeddings.embedding_table(runs[name].model, tok.vocab_size)
                proj = embeddings.project(weight, labels, method, dims)
                groups = [embeddings.token_category(tok.decode([i])) for i in range(tok.vocab_size)]
                ui.plot(embeddings_plots.projection_scatter(proj.coords, labels, groups=groups, explained=proj.explained, method=method),
                         key="emb_run_scatter")
            except ValueError as e:  # e.g. too few tokens for t-SNE (an EmbeddingError says so in plain words)
                st.warning(f"Cannot show the embedding table of '{name}': {e}")

ui.code_expander(word2vec.skipgram_pairs, word2vec.train_word2vec, embeddings.train_autoencoder, embeddings.nearest, embeddings.analogy, embeddings.project)
