"""The Vector databases page's search tabs (a Streamlit helper, not a page): one question asked three ways
(vector search, BM25, hybrid) side by side, every method measured on the table's question set as a Job,
and the map of the chunks."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from llmviz.errors import LearnerError
from llmviz.plots import retrieval as retrieval_plots
from llmviz.retrieval import compare, evaluate, keywords, rag, vectordb
from pages.shared import ui

EVAL_JOB = "vdb_eval_job"
OWN = "(your own words, below)"
SETS = {"world": "the generated world's questions (each about one person's passage)",
        "plays": "quoted lines and questions in other words about the plays",
        "quotes": "quoted lines of the text"}


@dataclass
class Asked:
    """What the search tab asked, for the map and RAG tabs."""
    question: str
    k: int
    where: str | None
    hits: list  # the chosen method's hits
    vector: object  # the question's vector (None if the embedder knew no word)
    known: evaluate.EvalQuestion | None  # the question of the table's set, when one was picked
    method: str
    exact: bool
    params: object


@st.cache_data(max_entries=4, show_spinner=False)
def _questions(db: str, name: str, built_at: str, _table) -> tuple[str, list]:
    kind, qs = evaluate.questions_for(_table, 40, seed=0)
    return kind, qs


def _hit_list(column, ranked, words, rank_of_answer=None) -> None:
    column.markdown(f"**{keywords.METHODS[ranked.method]}** · {ranked.ms:.1f} ms")
    if not ranked.hits:
        column.warning(ranked.note or "No hit.", icon=":material/warning:")
        return
    if ranked.note:
        column.caption(ranked.note)
    for rank, h in enumerate(ranked.hits, 1):
        where_from = " · ".join(x for x in (h.section, h.speaker) if x)
        mark = " · :green[the answer]" if rank_of_answer and h.id in rank_of_answer else ""
        column.markdown(f"**{rank}.** {keywords.SCORES[ranked.method]} **{h.score:.3f}** · chunk {h.id} · {where_from}{mark}")
        with column.container(height=min(220, 60 + 22 * h.text.count("\n")), border=True,
                              key=f"vdb_hit_{ranked.method}_{rank}"):
            st.markdown(compare.bold_markdown(h.text, words[ranked.method]))


def search_tab(table, has_index: bool, params) -> Asked | None:
    if table.provenance.embedder["kind"] == "synthetic":
        st.info("A table of synthetic vectors has no text to search: measure its index in **The approximate index**.")
        return None
    kind, qs = _questions(str(table.db_dir), table.name, table.provenance.built_at, table)
    st.caption(f"This table's question set ({SETS[kind]}): pick one to see which method ranks its answer highest.")
    own = (table.name, table.provenance.built_at)
    if st.session_state.setdefault("vdb_asked_of", own) != own:  # another table: its own default question
        for key in ("vdb_known", "vdb_question"):
            st.session_state.pop(key, None)
        st.session_state["vdb_asked_of"] = own
    pick = st.selectbox("A question with a known answer", [OWN] + [q.text for q in qs], key="vdb_known")
    known = next((q for q in qs if q.text == pick), None)
    default = {"plays": "a horse, my kingdom for a horse", "world": qs[0].text if qs else ""}.get(kind, "how does a for loop end")
    typed = st.text_input("Question", default,
                          key="vdb_question", disabled=known is not None)
    question = known.text if known else typed
    c = st.columns(4)
    k = c[0].slider("k (chunks returned)", 1, 20, 5, key="vdb_k")
    section = c[1].selectbox("Only this play / section", ["(any)"] + table.values("section"), key="vdb_section")
    speaker = c[2].selectbox("Only this speaker", ["(any)"] + table.values("speaker")[:300], key="vdb_speaker")
    mode = c[3].radio("Vector search", ["exact", "index"], key="vdb_mode", horizontal=True,
                      format_func={"exact": "exact", "index": "approximate index"}.get,
                      help=None if has_index else "Build an index in 'The approximate index' to search through it.")
    where = vectordb.where_clause(None if section == "(any)" else section, None if speaker == "(any)" else speaker)
    exact = mode == "exact" or not has_index
    try:
        ways, relevant, reading = compare.ask(table, question, k, where, exact, params, known.evidence if known else "")
        vector, _, _ = table.embed_query(question)
    except vectordb.VectorDBError as e:
        st.warning(str(e), icon=":material/warning:")
        return None
    how = "exact search" if exact else "the approximate index"
    st.caption(f"Each list: rank, score, chunk. Vector search by {how}" + (f", filtered by {where}" if where else "")
               + ". Words of the question that carry weight in **bold** (stop words never are).")
    if reading:
        st.markdown(reading)
    words = {m: compare.bold_words(question, m, table.embedder.split_known(question)[0]) for m in ways}
    for column, ranked in zip(st.columns(3), ways.values()):
        _hit_list(column, ranked, words, relevant)
    vec = ways["vector"]
    if vec.hits:
        ui.plot(retrieval_plots.hit_scores([f"chunk {h.id}" for h in vec.hits], [h.score for h in vec.hits]),
                key="vdb_scores")
    method = st.radio("The hits the map and RAG use", list(ways), format_func=compare.NAMES.get, horizontal=True,
                      key="vdb_use", index=2 if ways["hybrid"].hits else 0)
    return Asked(question, k, where, ways[method].hits, vector, known, method, exact, params)


def measure_tab(db: str, table, tables: dict) -> None:
    kind = evaluate.question_set_of(table.provenance)
    if table.provenance.embedder["kind"] == "synthetic":
        st.info("A table of synthetic vectors has no questions: its index is measured in **The approximate index**.")
        return
    st.markdown(f"Every method on this table's question set ({SETS[kind]}, chosen from what the table records about "
                "its corpus): **recall@k** is the share of questions whose answer chunk is in the top k, **MRR** the "
                "mean of 1 / its rank (1.0: always first).")
    same = [n for n, p in tables.items() if p and n != table.name and p.corpus == table.provenance.corpus
            and p.chunking == table.provenance.chunking]
    c = st.columns([1, 1, 3])
    k = c[0].slider("k", 1, 20, 5, key="vdb_eval_k")
    n = c[1].select_slider("Questions", [20, 50, 100, 200, 500], 100, key="vdb_eval_n")
    others = c[2].multiselect("Also the vectors of (the same chunks, another embedder)", same, key="vdb_eval_others")
    inputs = (db, table.name, table.provenance.built_at, k, n, tuple(others))
    job = st.session_state.get(EVAL_JOB)
    if st.button("Measure every method", key="vdb_eval", icon=":material/analytics:", disabled=bool(job and job.running)):
        try:
            if keywords.fts_info(table) is None:
                keywords.build_fts(table)
            opened = [vectordb.VectorTable.open(db, o) for o in others]
            st.session_state[EVAL_JOB] = ui.start_job(evaluate.evaluate_job(table, k, n, opened))
            st.session_state["vdb_eval_inputs"] = inputs
            st.rerun()
        except LearnerError as e:
            st.error(str(e), icon=":material/error:")
    ui.watch_job(EVAL_JOB, what=lambda s: f"question {s.step:,} of {s.total:,}")
    job = st.session_state.get(EVAL_JOB)
    if job is None or job.running or job.result is None:
        return
    if st.session_state.get("vdb_eval_inputs") != inputs:
        st.caption("The table or settings changed since the last measure: measure again to see them.")
        return
    st.dataframe(compare.report_rows(job.result), hide_index=True, key="vdb_eval_table")
    st.markdown(compare.report_reading(job.result))
    if job.result.skipped:
        st.caption(f"{job.result.skipped:,} of the set's questions have no answer in this table's chunks "
                   "(a capped corpus or another chunking): left out.")


def map_tab(db: str, table, stats: dict, asked: Asked | None) -> None:
    mp = _map(db, table.name, stats["built_at"], (asked.question, asked.k, asked.where) if asked else (),
              tuple(h.id for h in asked.hits) if asked else (), table, asked.vector if asked else None)
    ui.plot(retrieval_plots.chunk_map(mp.coords, mp.sections, mp.labels, mp.query, mp.hits, mp.explained, mp.total),
            key="vdb_map")
    st.caption("PCA keeps the two directions along which the chunks differ most; nearness in the full space "
               "(what the search uses) is only partly visible in 2-D: a hit may look far from the star.")


@st.cache_data(show_spinner="Projecting the table…", max_entries=4)
def _map(db: str, name: str, built_at: str, query_key: tuple, hit_ids: tuple, _table, _query):
    return rag.map_points(_table, _query, hit_ids)
