"""Vector databases: chunk the text, embed the chunks, store them in LanceDB, search them (exact or through
an index), map them, and hand the best ones to a model as context (retrieval-augmented generation)."""


import streamlit as st

from llmviz.retrieval import ann, chunking, compare, embedders, keywords, rag, vectordb
from llmviz.plots import retrieval as retrieval_plots
from pages.shared import session_runs, ui, vector_index, vector_rag, vector_search

JOB, INDEX_JOB = "vdb_job", "vdb_index_job"  # the background build of a table, of an index
W2V_JOB = "emb_job"  # the Embeddings page's word2vec job (its result is a Word2VecResult)
EMBEDDERS = {"lsa": "LSA (TF-IDF + truncated SVD)", "word2vec": "word2vec (mean of the words)",
             "lm": "a language model (mean of its hidden states)"}

st.title("Vector databases and retrieval-augmented generation")
st.markdown(
    "A model only knows what it was trained on and what is in its prompt. To let it use a library of texts, "
    "cut the texts into **chunks**, turn each chunk into a vector with an **embedder**, and store the vectors in a "
    "**vector database**. A question is embedded the same way; the chunks whose vectors are nearest (by cosine "
    "similarity) are the ones most likely to be about it, and they go into the prompt as context: "
    "**retrieval-augmented generation** (RAG). The database here is [LanceDB](https://lancedb.com), embedded: a "
    "folder on your disk, no server; the same API scales to billions of vectors on disk or object storage."
)

corpus = ui.current_corpus()
st.session_state.setdefault("vdb_dir", str(vectordb.default_dir()))


@st.cache_data(show_spinner="Cutting the text into chunks…", max_entries=8)
def chunks_of(corpus, by: str, size: int, overlap: int):
    try:
        return chunking.chunk(corpus, chunking.ChunkConfig(by, size, overlap)), None
    except chunking.ChunkingError as e:
        return None, str(e)


def open_table(db: str, name: str, built_at: str):
    """The open table, kept for this session (reopened when it was rebuilt)."""
    tables = st.session_state.setdefault("vdb_open", {})
    key = (db, name, built_at)
    if key not in tables:
        tables.clear()
        tables[key] = vectordb.VectorTable.open(db, name)
    return tables[key]


# --- 1. chunks ------------------------------------------------------------------------------------------
st.header("1 · Cut the text into chunks")
c = st.columns(3)
by = c[0].radio("Chunk by", chunking.BY, index=1, key="vdb_by",
                format_func={"speech": "speech (one block each)", "paragraphs": "paragraphs packed to the size"}.get,
                help="A block is what lies between blank lines: a speech in Shakespeare, a paragraph elsewhere. "
                     "Packed paragraphs retrieve better; one speech each keeps one speaker per chunk (for the "
                     "speaker filter), but a two-word speech ('A king, a king!') is near anything with that word.")
size = c[1].slider("Chunk size (characters)", 100, 2000, 600, 50, key="vdb_size")
overlap = c[2].slider("Overlap of long blocks' windows", 0, 1000, 100, 25, key="vdb_overlap",
                      help="A block longer than the size is cut into windows that share this many characters.")
chunks, error = chunks_of(corpus, by, size, overlap)
if error:
    st.error(error, icon=":material/error:")
else:
    left, right = st.columns([2, 3])
    with left:
        ui.plot(retrieval_plots.chunk_lengths([len(ch.text) for ch in chunks], size), key="vdb_lengths")
    with right:
        st.caption(f"{corpus.name}: {len(chunks):,} chunks. The first ones:")
        st.dataframe({"id": [ch.id for ch in chunks[:50]], "section": [ch.section for ch in chunks[:50]],
                      "speaker": [ch.speaker for ch in chunks[:50]], "text": [ch.text for ch in chunks[:50]]},
                     hide_index=True, height=280, key="vdb_chunks")

# --- 2. embed and store -------------------------------------------------------------------------------
st.header("2 · Embed the chunks and store them")
db = st.text_input("Database folder", key="vdb_dir", help="Tables are kept here between sessions.")
kind = st.radio("Embedder", list(EMBEDDERS), format_func=EMBEDDERS.get, horizontal=True, key="vdb_embedder")
embedder, why_not = None, ""
if kind == "lsa":
    dim = st.slider("LSA dimensions (SVD components)", 16, 256, 128, 16, key="vdb_lsa_dim")
    embedder = embedders.LSAConfig(dim=dim)
    st.caption("Fitted on the chunks themselves: each word weighted by TF-IDF (frequent in the chunk, rare in the "
               "corpus), then the weights squeezed into a few 'topics' by a truncated SVD.")
elif kind == "word2vec":
    w2v = st.session_state.get(W2V_JOB)
    if w2v is None or w2v.running or w2v.result is None:
        why_not = "Train word2vec on the **Embeddings** page first (finished or stopped): its vectors are used here."
    else:
        embedder = embedders.Word2VecEmbedder.from_result(w2v.result)
        st.caption(f"The Embeddings page's vectors: {embedder.describe()}. Words outside its vocabulary are skipped.")
else:
    runs = session_runs.usable()
    if not runs:
        why_not = "Train a model on a Part 2 page first: its hidden states are used here."
    else:
        run_name = st.selectbox("Model", list(runs), key="vdb_lm_run")
        embedder = embedders.LMEmbedder(runs[run_name].model, runs[run_name].tokenizer)
        st.caption(embedder.describe() + ". Long chunks are read in windows of its context length.")
if why_not:
    st.info(why_not)
c = st.columns([3, 1])
default_name = vectordb.slug(f"{corpus.name}-{kind}")  # keyed by it: another corpus gets its own name
name = c[0].text_input("Table name", default_name, key=f"vdb_name_{default_name}")
replace = c[1].checkbox("Replace it if it exists", key="vdb_replace")
job = st.session_state.get(JOB)
running = job is not None and job.running
b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Build the table", type="primary", disabled=running or embedder is None or chunks is None,
             key="vdb_build", icon=":material/database:"):
    try:
        st.session_state[JOB] = ui.start_job(rag.build_job(corpus, chunking.ChunkConfig(by, size, overlap), embedder,
                                                           db, vectordb.slug(name), replace))
        st.session_state["vdb_table_next"] = vectordb.slug(name)
        st.rerun()
    except (chunking.ChunkingError, vectordb.VectorDBError) as e:
        st.error(str(e), icon=":material/error:")
if b2.button("Stop", disabled=not running, key="vdb_stop", icon=":material/stop:"):
    job.stop()
ui.watch_job(JOB, what=lambda s: f"{s.extra.get('phase', 'starting')} · chunk {s.step:,} of {s.total:,}")
with st.expander("Or a table of synthetic vectors, large enough for an index to matter", icon=":material/scatter_plot:"):
    vector_index.synthetic_maker(db)

# --- 3. search ----------------------------------------------------------------------------------------
st.header("3 · Search")
tables = vectordb.describe_tables(db) if db else {}
if not tables:
    st.info(f"No table in {db} yet: build one above.")
    st.stop()
names = list(tables)
if st.session_state.get("vdb_table_next") in names:  # a table just made on this page: show it
    st.session_state["vdb_table"] = st.session_state.pop("vdb_table_next")
if st.session_state.get("vdb_table") not in names:
    st.session_state["vdb_table"] = names[0]
choice = st.selectbox("Table", names, key="vdb_table",
                      format_func=lambda n: f"{n} — {tables[n].describe()}" if tables[n] else n)
try:
    table = open_table(db, choice, tables[choice].built_at if tables[choice] else "")
    stats = table.stats()
except (vectordb.VectorDBError, embedders.EmbedderError, OSError, ValueError) as e:
    st.error(f"Cannot open {choice}: {e}", icon=":material/error:")
    st.stop()
m = st.columns(5)
m[0].metric("Rows", f"{stats['rows']:,}")
m[1].metric("Dimensions", stats["dimensions"])
m[2].metric("On disk", f"{stats['bytes_on_disk'] / 1e6:.2f} MB")
m[3].metric("Build time", f"{stats['build_seconds']:.1f} s")
m[4].metric("Index", stats["index"]["type"] if stats["index"] else "none")
with st.expander("How this table was made (recorded with it)", icon=":material/info:"):
    st.json(vars(table.provenance), expanded=False)
    if stats["skipped"]:
        st.caption(f"{stats['skipped']} chunks had no word the embedder knows (a zero vector is never found): left out.")

tabs = st.tabs(["Three searches", "Measured on questions", "The approximate index", "The map", "RAG"])
with tabs[2]:
    params, has_index = vector_index.index_tab(db, table, stats)
with tabs[0]:
    asked = vector_search.search_tab(table, has_index, params)
with tabs[1]:
    vector_search.measure_tab(db, table, tables)
with tabs[3]:
    vector_search.map_tab(db, table, stats, asked)
with tabs[4]:
    vector_rag.rag_tab(table, asked)

ui.code_expander(chunking.chunk, embedders.LSAEmbedder.tfidf, keywords.keyword_search, keywords.hybrid_search,
                 vectordb.VectorTable.search_vector, ann.measure, compare.reading, rag.build_prompt)
