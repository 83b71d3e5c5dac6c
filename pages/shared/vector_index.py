"""The Vector databases page's approximate-index tab (a Streamlit helper, not a page): build an IVF-PQ or
HNSW index, choose nprobes and the refine factor, see recall@k and latency against exact search measured
live, the recall-versus-latency curve as a Job, and a table of synthetic vectors large enough for it."""

from __future__ import annotations

import streamlit as st

from llmviz.errors import LearnerError
from llmviz.plots import retrieval as retrieval_plots
from llmviz.retrieval import ann, synthetic, vectordb
from pages.shared import ui

INDEX_JOB, SWEEP_JOB, SYNTH_JOB = "vdb_index_job", "vdb_sweep_job", "vdb_synth_job"
MEASURE_K, MEASURE_QUESTIONS = 10, 20


def synthetic_maker(db: str) -> None:
    st.markdown("**A table large enough to need an index.** Exact search over a few thousand chunks takes a "
                "millisecond: an index has nothing to win. Make a table of synthetic vectors (a mixture of "
                f"{synthetic.CLUSTERS:,} Gaussian clusters, as real embeddings are clustered) of the size you choose, "
                "or pick every play in the sidebar, uncapped, and build a table of them.")
    c = st.columns([2, 1, 1])
    rows = c[0].select_slider("Vectors", [10_000, 50_000, 100_000, 200_000, 500_000], 100_000, key="vdb_synth_rows",
                              format_func=lambda n: f"{n:,}")
    dim = c[1].select_slider("Dimensions", [32, 64, 128, 256], 128, key="vdb_synth_dim")
    job = st.session_state.get(SYNTH_JOB)
    if c[2].button("Make it", key="vdb_synth", icon=":material/scatter_plot:", disabled=bool(job and job.running)):
        try:
            name = vectordb.slug(f"synthetic-{rows}x{dim}")
            st.session_state[SYNTH_JOB] = ui.start_job(ann.synthetic_job(db, rows, dim, name=name))
            st.session_state["vdb_table_next"] = name
            st.rerun()
        except LearnerError as e:
            st.error(str(e), icon=":material/error:")
    ui.watch_job(SYNTH_JOB, what=lambda s: s.extra.get("phase", "starting"))


def _build_controls(table, stats: dict) -> tuple[int, bool]:
    c = st.columns(4)
    ikind = c[0].radio("Index", list(ann.KINDS), format_func=ann.KINDS.get, key="vdb_index_kind")
    top = ann.max_partitions(stats["rows"])
    parts = c[1].slider("Partitions (IVF clusters)", 1, max(2, top), ann.default_partitions(stats["rows"]),
                        key="vdb_parts", disabled=top < 2)
    subs = c[2].select_slider("PQ sub-vectors", ann.sub_vector_choices(stats["dimensions"]),
                              ann.default_sub_vectors(stats["dimensions"]), key="vdb_subs", disabled=ikind != "ivf_pq")
    m_links = c[3].slider("HNSW m (links per node)", 4, 64, 20, key="vdb_m", disabled=ikind != "hnsw")
    ef_build = c[3].slider("HNSW ef while building", 50, 500, 300, 10, key="vdb_ef_construction",
                           disabled=ikind != "hnsw")
    ijob = st.session_state.get(INDEX_JOB)
    if st.button("Build the index", key="vdb_index_build", disabled=ijob is not None and ijob.running,
                 icon=":material/construction:"):
        try:
            cfg = ann.IndexConfig(ikind, parts, subs, m=m_links, ef_construction=ef_build)
            st.session_state[INDEX_JOB] = ui.start_job(ann.index_job(table, cfg))
            st.rerun()
        except LearnerError as e:
            st.error(str(e), icon=":material/error:")
    ui.watch_job(INDEX_JOB, what=lambda s: "building the index" if s.state == "running" else f"built in {s.elapsed:.1f} s")
    return ann.built_partitions(table) or parts, stats["index"] is not None


@st.cache_data(max_entries=4, show_spinner="Exact search for the questions…")
def _truth(key: tuple, _table):
    queries = ann.query_vectors(_table, MEASURE_QUESTIONS)
    truth, exact_ms = ann.exact_truth(_table, queries, min(MEASURE_K, _table.rows))
    return queries, truth, exact_ms


def index_tab(db: str, table, stats: dict):
    """The tab; returns the search parameters the other tabs search the index with, and whether there is one."""
    st.markdown(ann.__doc__.split("\n\n", 2)[2])
    parts, has_index = _build_controls(table, stats)
    c = st.columns(3)
    nprobes = c[0].slider("nprobes (partitions searched)", 1, max(2, parts), ann.default_nprobes(parts),
                          key=f"vdb_nprobes_{parts}")
    refine = c[1].slider("refine factor (0: off)", 0, 50, 0, key="vdb_refine",
                         help="Re-rank k × this many candidates with the full vectors.")
    ef = c[2].slider("HNSW ef while searching (0: LanceDB's default)", 0, 500, 0, 10, key="vdb_ef")
    params = vectordb.SearchParams(nprobes=nprobes, refine_factor=refine or None, ef=ef or None)
    if not has_index:
        st.info("No index on this table yet: build one above to measure it.")
    else:
        key = (db, table.name, stats["built_at"], str(stats["index"]))
        try:
            queries, truth, exact_ms = _truth(key, table)
            k = len(truth[0]) if truth else MEASURE_K
            point = ann.measure(table, queries, truth, k, params, exact_ms)
        except LearnerError as e:
            st.warning(str(e), icon=":material/warning:")
            point = None
        if point is not None:
            m = st.columns(3)
            m[0].metric(f"recall@{k} (mean of {len(queries)} questions)", f"{point.recall:.0%}")
            m[1].metric("index, median", f"{point.ms:.2f} ms")
            m[2].metric("exact search, median", f"{point.exact_ms:.2f} ms")
            st.caption(ann.say_point(point, k, parts))
            job = st.session_state.get(SWEEP_JOB)
            if st.button("Draw the recall-vs-latency curve", key="vdb_sweep", icon=":material/show_chart:",
                         disabled=bool(job and job.running)):
                st.session_state[SWEEP_JOB] = ui.start_job(ann.sweep_job(table, queries, k, parts))
                st.session_state["vdb_sweep_inputs"] = key
                st.rerun()
            ui.watch_job(SWEEP_JOB, what=lambda s: f"setting {s.step:,} of {s.total:,}")
            job = st.session_state.get(SWEEP_JOB)
            fresh = job is not None and not job.running and st.session_state.get("vdb_sweep_inputs") == key
            ui.plot(retrieval_plots.recall_latency(job.result if fresh and job.result else [], point, k), key="vdb_curve")
    st.caption("The table too small for the trade to show? Make one of synthetic vectors in section 2.")
    return params, has_index
