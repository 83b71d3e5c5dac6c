"""Tokenization by BPE: learn merges on the current text, step through them, watch the text shrink."""

import hashlib

import streamlit as st

from llmviz.text import bpe
from llmviz.plots import bpe as bpe_plots
from llmviz.wording import plural
from pages.shared import ui

JOB, JOB_KEY, RESULT = "bpe_job", "bpe_job_key", "bpe_result"  # background training of big vocabularies
BACKGROUND_VOCAB, BACKGROUND_CHARS = 2048, 2_000_000  # above either, train in the background with a Stop
SHOWN_CHARS = 5_000  # the step-through view colours at most this much of the sample
TRY_TEXT = "Tokenization is compression: the more often a pair of tokens appears, the sooner it merges. 日本語 😀"

st.title("Tokenization by BPE")
st.markdown(
    "A model reads integers, not letters. The **character tokenizer** gives every character an id, so a text of "
    "a million characters is a million tokens. **Byte-pair encoding** (BPE) compresses instead: start from the "
    "256 bytes, find the most frequent *pair* of adjacent tokens in the text, give that pair a new id, replace "
    "it everywhere, and repeat. Frequent words soon become single tokens, rare words stay in pieces, and any "
    "text can still be written, byte by byte. Each merge adds one token to the vocabulary and shortens the text: "
    "the vocabulary size is the knob that trades a longer vocabulary for shorter sequences. As in GPT-2, the "
    "text is first split into words, numbers, punctuation and spaces, so a merge never crosses a word boundary."
)


@st.cache_data(show_spinner="Learning merges…", max_entries=8)
def trained(text: str, vocab_size: int):
    try:
        return bpe.BPETokenizer().train(text, vocab_size), None
    except bpe.BPEError as e:
        return None, str(e)


def sample_of(text: str, n: int = 400) -> str:
    cut = text.rfind("\n", 0, n)
    return text[: cut if cut > 40 else n]


corpus = ui.current_corpus()
text = corpus.text
vocab_size = st.slider("Vocabulary size (256 bytes + one token per merge)", 256, 8192, 512, step=32, key="bpe_vocab",
                       persist_state="session")  # kept when the learner leaves the page and comes back
st.caption(f"Training on {corpus.describe()}.")
key = (hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest(), vocab_size)

tok, error = None, None
if vocab_size <= BACKGROUND_VOCAB and len(text) <= BACKGROUND_CHARS:
    tok, error = trained(text, vocab_size)
else:
    job = st.session_state.get(JOB)
    if job is not None and job.snapshot().done and st.session_state.get(JOB_KEY) == key and job.result is not None:
        st.session_state[RESULT] = (key, job.result)  # adopt a finished (or stopped) run
    result = st.session_state.get(RESULT)
    if result is not None and result[0] == key:
        tok = result[1]
    else:
        running = job is not None and job.running
        st.info("A big vocabulary or a long text: training runs in the background, with a progress bar and a Stop.")
        start, stop = ui.train_stop_buttons("bpe", running)
        if start:
            st.session_state[JOB] = ui.start_job(bpe.train_bpe_job(text, vocab_size))
            st.session_state[JOB_KEY] = key
            st.rerun()  # redraw the buttons: Stop enabled, Train disabled
        if stop:
            job.stop()
        ui.watch_job(JOB, what=lambda snap: "splitting the text and counting pairs" if snap.step == 0
                      else f"merge {snap.step:,} of {snap.total:,}")

if error:
    st.error(error)
if tok is None:
    st.stop()
if tok.stop_reason:
    st.warning(f"Training ended early: {tok.stop_reason}.")

merges, n_merges = tok.merges, len(tok.merges)
n_bytes = len(text.encode("utf-8"))
n_tokens = merges[-1].n_tokens if merges else n_bytes
c = st.columns(4)
c[0].metric("Vocabulary", f"{tok.vocab_size:,}")
c[1].metric("Characters in the text", f"{len(text):,}")
c[2].metric("Tokens after BPE", f"{n_tokens:,}")
c[3].metric("Bytes per token", f"{n_bytes / n_tokens:.2f}")

st.subheader("Step through the merges")
# a step slider left at the end follows the end when the vocabulary grows
previous_end = st.session_state.get("bpe_step_end")
if st.session_state.get("bpe_step") in (None, previous_end) or st.session_state["bpe_step"] > n_merges:
    st.session_state["bpe_step"] = n_merges
st.session_state["bpe_step_end"] = n_merges
step = st.slider("Merges applied", 0, max(n_merges, 1), key="bpe_step", disabled=n_merges == 0)
step = min(step, n_merges)
sample = st.text_area("Sample text (edit it)", sample_of(text), key="bpe_sample", height=120)
show_ws = st.toggle("Show spaces and newlines", key="bpe_ws")
if step:
    m = merges[step - 1]
    st.markdown(f"Merge **{step}**: `{bpe_plots.token_label(tok.vocab[m.pair[0]])}` + `{bpe_plots.token_label(tok.vocab[m.pair[1]])}` "
                f"→ `{bpe_plots.token_label(m.token)}` (id {m.id}), seen {m.count:,} times in the text.")
shown = sample[:SHOWN_CHARS]
pieces = tok.tokens(shown, n_merges=step)
st.caption(f"{len(pieces):,} tokens for {len(shown):,} characters ({len(shown.encode('utf-8')):,} bytes) after "
           f"{plural(step, 'merge')}" + (f"; only the first {SHOWN_CHARS:,} characters are shown" if len(sample) > SHOWN_CHARS else "")
           + ". Hover over a token for its id.")
st.html(bpe_plots.token_spans_html(pieces, show_ws))

ui.plot(bpe_plots.compression_figure(merges, n_bytes, len(text), step), key="bpe_compression")

left, right = st.columns([3, 2])
with left:
    st.subheader("The merges, in order")
    query = st.text_input("Search the new tokens", key="bpe_search", placeholder="e.g. the, ing, ␣")
    rows = bpe_plots.merge_rows(merges, tok.vocab, query)
    st.caption(f"{len(rows):,} of {plural(n_merges, 'merge')}" + (f" contain '{query}'" if query else "")
               + ". ␣ is a space, ⏎ a newline, ⇥ a tab.")
    st.dataframe(rows, hide_index=True, key="bpe_table", height=380)
with right:
    if merges:
        ui.plot(bpe_plots.longest_tokens_figure(merges), key="bpe_longest")

st.subheader("Tokenize your own text")
typed = st.text_area("Text", TRY_TEXT, key="bpe_try", height=90)
ids = tok.encode(typed)
st.html(bpe_plots.token_spans_html([(i, tok.vocab[i]) for i in ids], show_ws))
st.caption(f"{len(ids):,} tokens for {len(typed):,} characters. The ids:")
st.code(", ".join(map(str, ids)) or "(no tokens)", language=None, wrap_lines=True)
raw = st.text_input("Ids to decode (commas or spaces between them)", key="bpe_ids", placeholder="e.g. 72, 101, 108")
if raw.strip():
    try:
        st.success(f"Decoded: {tok.decode(bpe.parse_ids(raw))!r}")
    except ValueError as e:
        st.error(str(e))
st.download_button("Download this tokenizer (JSON)", tok.to_json(), file_name=f"bpe-{tok.vocab_size}.json",
                   mime="application/json", key="bpe_download")

ui.code_expander(bpe.BPETokenizer.train, bpe.merge_pair, bpe.BPETokenizer._encode_chunk)
