"""Vector databases: chunk the text, embed the chunks, store them in LanceDB, search them (exact or through
an index), map them, and hand the best ones to a model as context (retrieval-augmented generation)."""

from pathlib import Path

import streamlit as st

from llmviz.retrieval import ann, chunking, embedders, rag, vectordb
from llmviz.plots import retrieval as retrieval_plots
from pages.shared import session_runs, ui

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
name = c[0].text_input("Table name", vectordb.slug(f"{corpus.name}-{kind}"), key=f"vdb_name_{kind}")
replace = c[1].checkbox("Replace it if it exists", key="vdb_replace")
job = st.session_state.get(JOB)
running = job is not None and job.running
b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Build the table", type="primary", disabled=running or embedder is None or chunks is None,
             key="vdb_build", icon=":material/database:"):
    try:
        st.session_state[JOB] = ui.start_job(rag.build_job(corpus, chunking.ChunkConfig(by, size, overlap), embedder,
                                                           db, vectordb.slug(name), replace))
        st.session_state["vdb_table"] = vectordb.slug(name)
        st.rerun()
    except (chunking.ChunkingError, vectordb.VectorDBError) as e:
        st.error(str(e), icon=":material/error:")
if b2.button("Stop", disabled=not running, key="vdb_stop", icon=":material/stop:"):
    job.stop()
ui.watch_job(JOB, what=lambda s: f"{s.extra.get('phase', 'starting')} · chunk {s.step:,} of {s.total:,}")

# --- 3. search ----------------------------------------------------------------------------------------
st.header("3 · Search")
tables = vectordb.describe_tables(db) if db else {}
if not tables:
    st.info(f"No table in {db} yet: build one above.")
    st.stop()
names = list(tables)
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

shakespeare = table.provenance.corpus.get("name", "").startswith(("Shakespeare", "Tiny"))
question = st.text_input("Question", "a horse, my kingdom for a horse" if shakespeare else "how does a for loop end",
                         key="vdb_question")
c = st.columns(4)
k = c[0].slider("k (chunks returned)", 1, 20, 5, key="vdb_k")
section = c[1].selectbox("Only this play / section", ["(any)"] + table.values("section"), key="vdb_section")
speaker = c[2].selectbox("Only this speaker", ["(any)"] + table.values("speaker")[:300], key="vdb_speaker")
has_index = stats["index"] is not None
mode = c[3].radio("Search", ["exact", "index"], key="vdb_mode", horizontal=True,
                  format_func={"exact": "exact", "index": "approximate index"}.get,
                  help=None if has_index else "Build an index below to search through it.")
where = vectordb.where_clause(None if section == "(any)" else section, None if speaker == "(any)" else speaker)

with st.expander("The approximate index (IVF-PQ or HNSW) and its parameters", icon=":material/speed:"):
    st.markdown(ann.__doc__.split("\n\n", 2)[2])
    c = st.columns(4)
    ikind = c[0].radio("Index", list(ann.KINDS), format_func=ann.KINDS.get, key="vdb_index_kind")
    top = ann.max_partitions(stats["rows"])
    parts = c[1].slider("Partitions (IVF clusters)", 1, max(2, top), ann.default_partitions(stats["rows"]),
                        key="vdb_parts", disabled=top < 2)
    subs = c[2].select_slider("PQ sub-vectors", ann.sub_vector_choices(stats["dimensions"]),
                              ann.default_sub_vectors(stats["dimensions"]),
                              key="vdb_subs", disabled=ikind != "ivf_pq")
    nprobes = c[3].slider("nprobes (partitions searched)", 1, max(2, parts), min(20, parts), key="vdb_nprobes")
    c = st.columns(4)
    refine = c[0].slider("refine factor (0: off)", 0, 50, 10, key="vdb_refine",
                         help="Re-rank k × this many candidates with the full vectors.")
    m_links = c[1].slider("HNSW m (links per node)", 4, 64, 20, key="vdb_m", disabled=ikind != "hnsw")
    ef_build = c[2].slider("HNSW ef while building", 50, 500, 300, 10, key="vdb_ef_construction",
                           disabled=ikind != "hnsw")
    ef = c[3].slider("HNSW ef while searching (0: LanceDB's default)", 0, 500, 0, 10, key="vdb_ef")
    ijob = st.session_state.get(INDEX_JOB)
    if st.button("Build the index", key="vdb_index_build", disabled=ijob is not None and ijob.running,
                 icon=":material/construction:"):
        try:
            cfg = ann.IndexConfig(ikind, parts, subs, m=m_links, ef_construction=ef_build)
            st.session_state[INDEX_JOB] = ui.start_job(ann.index_job(table, cfg))
            st.rerun()
        except vectordb.VectorDBError as e:
            st.error(str(e), icon=":material/error:")
    ui.watch_job(INDEX_JOB, what=lambda s: "building the index" if s.state == "running" else
                  f"built in {s.elapsed:.1f} s")
params = vectordb.SearchParams(nprobes=nprobes, refine_factor=refine or None, ef=ef or None)

result = None
try:
    result = table.search(question, k, where, exact=mode == "exact" or not has_index, params=params)
except vectordb.VectorDBError as e:
    st.warning(str(e), icon=":material/warning:")
if result is not None:
    if result.note:
        (st.warning if not result.hits else st.caption)(result.note)
    if result.hits:
        how = "exact search" if result.exact else "the approximate index"
        st.caption(f"{len(result.hits)} chunks in {result.ms:.1f} ms by {how}"
                   + (f", filtered by {where}" if where else "") + ". Words of the question in **bold**.")
        left, right = st.columns([3, 2])
        with left:
            for rank, h in enumerate(result.hits, 1):
                where_from = " · ".join(x for x in (h.section, h.speaker) if x)
                st.markdown(f"**{rank}.** cosine **{h.score:.3f}** · chunk {h.id} · {where_from}")
                with st.container(height=min(260, 60 + 22 * h.text.count("\n")), border=True):
                    st.markdown(rag.highlight_markdown(h.text, result.known))
        with right:
            ui.plot(retrieval_plots.hit_scores([f"chunk {h.id}" for h in result.hits], [h.score for h in result.hits]),
                     key="vdb_scores")
            if has_index:
                cmp = ann.compare(table, result.vector, len(result.hits), where, params, repeats=5)
                ui.plot(retrieval_plots.exact_vs_index(cmp.exact_ms, cmp.index_ms, cmp.recall, cmp.k), key="vdb_cmp")
                st.caption(f"recall@{cmp.k} = {cmp.recall:.0%}: the index found {round(cmp.recall * cmp.k)} of the "
                           f"exact top {cmp.k}, {cmp.speedup:.1f}× the speed (median of 5). On a table this small "
                           "both are fast; bench/bench_vectors.py measures 200,000 vectors.")

# --- 4. the map ---------------------------------------------------------------------------------------
st.header("4 · The chunks on a map")


@st.cache_data(show_spinner="Projecting the table…", max_entries=4)
def _map(db: str, name: str, built_at: str, query_key: tuple, hit_ids: tuple, _table, _query):
    return rag.map_points(_table, _query, hit_ids)


mp = _map(db, choice, stats["built_at"], (question, k, where), tuple(h.id for h in result.hits) if result else (),
          table, result.vector if result else None)
ui.plot(retrieval_plots.chunk_map(mp.coords, mp.sections, mp.labels, mp.query, mp.hits, mp.explained, mp.total), key="vdb_map")
st.caption("PCA keeps the two directions along which the chunks differ most; nearness in the full space "
           "(what the search uses) is only partly visible in 2-D: a hit may look far from the star.")

# --- 5. RAG -------------------------------------------------------------------------------------------
st.header("5 · Retrieval-augmented generation")
runs = session_runs.usable()
if not runs:
    st.info("Train a model on a Part 2 page to see it answer with and without the retrieved chunks.")
elif result is None or not result.hits:
    st.info("Ask a question that finds some chunks above first.")
else:
    st.markdown(
        "The hits go into the prompt as context. The models of Part 2 are **base models**: they continue a text, "
        "they do not answer it; with the context they continue in its words. An instruct model (Part 3) "
        "follows the instruction format below.")
    c = st.columns(4)
    rag_run = c[0].selectbox("Model", list(runs), key="vdb_rag_run")
    tname = c[1].selectbox("Prompt template", list(rag.TEMPLATES), key="vdb_template")
    n_tokens = c[2].slider("Tokens to generate", 20, 500, 200, 20, key="vdb_rag_tokens")
    temperature = c[3].slider("Temperature", 0.0, 1.5, 0.8, 0.05, key="vdb_rag_temp")
    template = st.text_area("Template ({context} and {question} are filled in)", rag.TEMPLATES[tname],
                            key=f"vdb_template_text_{tname}", height=120)
    model, tok = runs[rag_run].model, runs[rag_run].tokenizer
    try:
        prompt = rag.build_prompt(question, result.hits, template)
        seen, n_prompt = rag.model_view(tok, model.config.block_size, prompt)
        st.markdown(f"**The prompt** ({n_prompt:,} tokens)")
        st.code(prompt, language=None, wrap_lines=True)
        if n_prompt > model.config.block_size:
            st.warning(f"This model reads only its last {model.config.block_size} tokens: of this prompt it sees "
                       f"`{' '.join(seen.split())}`. The retrieved context is cut away before it reaches the model; "
                       "a model with a longer context (LM5 scaled: 256) sees more of it.", icon=":material/content_cut:")
        if st.button("Generate both answers", key="vdb_generate", icon=":material/auto_awesome:"):
            with st.spinner("Generating…"):
                st.session_state["vdb_answers"] = rag.answer(model, tok, question, result.hits, template,
                                                                   n_tokens, temperature)
    except vectordb.VectorDBError as e:
        st.warning(str(e))
    answers = st.session_state.get("vdb_answers")
    if answers is not None:
        left, right = st.columns(2)
        left.markdown("**With the retrieved chunks**")
        left.code(answers.with_context, language=None, wrap_lines=True)
        right.markdown("**Without retrieval** (same seed)")
        right.code(answers.without_context, language=None, wrap_lines=True)
        if answers.with_context == answers.without_context:
            st.caption(f"The two answers are the same: both prompts end with the same {answers.block_size} tokens, "
                       "all this model reads, so the retrieved chunks never reached it.")
        if answers.dropped:
            st.caption("Left out of the prompt (the model cannot spell them): " + " ".join(map(repr, answers.dropped)))

with st.expander("The same pipeline in LangChain", icon=":material/link:"):
    st.markdown("A LangChain **retriever** is one method: a query in, a list of `Document`s out. This table as a "
                "retriever plugs into any LangChain chain: `question → retriever → prompt template → LLM`, where the "
                "LLM is your model as on the LangChain page, or any other.")
    st.page_link("pages/langchain_concepts.py", label="LangChain's other concepts on your model", icon=":material/link:")
    st.code(Path(rag.__file__).with_name("langchain_rag.py").read_text(), language="python")
    if result is not None and result.hits and st.button("Run it through LangChain", key="vdb_lc"):
        from llmviz.retrieval.langchain_rag import VectorTableRetriever, model_llm, rag_chain

        retriever = VectorTableRetriever(table=table, k=k, where=where, exact=result.exact, params=params)
        docs = retriever.invoke(question)
        same = [d.metadata["id"] for d in docs] == [h.id for h in result.hits]
        st.write(f"The retriever: {len(docs)} Documents, ids {[d.metadata['id'] for d in docs]}: "
                 + ("the same chunks as above." if same else "not the chunks above (was the table rebuilt?)."))
        if runs:
            llm = model_llm(model, tok, n_tokens, temperature, seed=0)
            text = rag_chain(retriever, llm, template, tokenizer=tok).invoke(question)
            st.markdown(f"The chain's answer, from **{rag_run}**:")
            st.code(text, language=None, wrap_lines=True)
            answers = st.session_state.get("vdb_answers")
            if answers is not None and answers.prompt == rag.build_prompt(question, result.hits, template):
                st.caption("The same text as 'With the retrieved chunks' above: the same prompt, model and seed."
                           if text == answers.with_context else "Not the text above: the sampling settings changed.")

ui.code_expander(chunking.chunk, embedders.LSAEmbedder.tfidf, embedders.Word2VecEmbedder.embed,
                  embedders.LMEmbedder.embed, vectordb.VectorTable.search_vector, vectordb.VectorTable.search,
                  ann.compare, rag.build_prompt)
