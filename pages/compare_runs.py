"""Compare runs: every model trained in this session, overlaid, tabulated beside the tutorial's results."""

import streamlit as st

from llmviz.training import runs
from llmviz.training.presets import PRESETS
from llmviz.plots import training as training_plots
from llmviz.wording import plural
from pages.shared import session_runs, ui

st.title("Compare runs")
st.markdown(
    "Every run of this session is kept here, whatever its model and settings. Overlay their loss curves by "
    "training step (which model learns more per step?) or by wall time (which one learns more per second?), "
    "and put our numbers beside the tutorial's. The tutorial's story to look for: the unmasked LM1 *cheats* "
    "(lowest loss, garbage text), stacking layers without residual connections does not help, residual "
    "connections and layer norms do."
)
all_runs = session_runs.all_runs()
titles = {k: p.title for k, p in PRESETS.items()}
if session_runs.let_go():
    st.caption(f"Let go earlier, to keep this session within its memory budget ({session_runs.BUDGET.describe()}): "
               + ", ".join(session_runs.let_go()) + ".")

if not all_runs:
    st.info("No run yet in this session: train a model on one of the LM pages, then come back.", icon=":material/info:")
else:
    groups = runs.by_measure(all_runs)  # like with like: one axis never mixes losses that measure different things
    sizes = {str(m): len(names) for m, names in groups.items()}
    picked = st.selectbox("What to compare (runs whose losses measure the same thing)", list(sizes), key="cmp_measure",
                          format_func=lambda m: f"{m} ({plural(sizes[m], 'run')})") or next(iter(sizes))
    index = list(sizes).index(picked)
    measure, group = list(groups.items())[index]
    others = len(all_runs) - len(group)
    if others:
        st.caption(f"{plural(others, 'other run')} measured otherwise: pick {'it' if others == 1 else 'them'} above "
                   "(a loss per character, per BPE token, per English word and the DPO loss are not on one scale).")
    chosen = st.multiselect("Runs to compare", group, default=group, key=f"cmp_runs · {picked}")
    c1, c2 = st.columns(2)
    x = c1.radio("Horizontal axis", list(training_plots.X_TITLES), format_func=training_plots.X_TITLES.get, horizontal=True, key="cmp_x",
                 bind="query-params")
    show_ref = c2.toggle("The tutorial's validation losses (dotted)", value=True, key="cmp_ref", bind="query-params",
                         disabled=not measure.cross_entropy)
    running = any(all_runs[n].running for n in chosen)

    @st.fragment(run_every=1.0 if running else None)
    def compare():
        records = [runs.record_of(n, all_runs[n]) for n in chosen]
        reference = {f"tutorial {r.preset}: {r.reference()[2]}": r.reference()[2]
                     for r in records if r.reference()} if show_ref and measure.cross_entropy else None
        vocab = {all_runs[n].model_cfg.vocab_size for n in chosen}
        baseline = runs.uniform_loss(vocab.pop()) if len(vocab) == 1 and measure.cross_entropy else None
        ui.plot(training_plots.loss_curves({n: all_runs[n].history for n in chosen}, x, reference=reference, baseline=baseline,
                                           y_title=measure.axis, perplexity=measure.cross_entropy), key="cmp_loss")
        rows = runs.table_rows(records)
        # the results first, the run's name pinned: they are what the learner came for
        st.dataframe(rows, hide_index=True, key="cmp_table", column_order=runs.RESULT_COLUMNS,
                     column_config={"run": st.column_config.TextColumn(pinned=True),
                                    "differs from the tutorial": st.column_config.TextColumn(width="medium")})
        differ = [f"**{r.name}**: " + "; ".join(r.differs) for r in records if r.reference() and r.differs]
        if measure.cross_entropy:
            st.caption("Perplexity = e^loss: the model is as unsure as if it picked among that many equally likely "
                       "tokens. A run made differently from the tutorial's model is compared with figures it was not "
                       "made to reach" + (": " + " · ".join(differ) if differ else "") + ".")
        else:
            st.caption("The DPO loss is −log σ(β · margin), the margin being how much more the model prefers the chosen "
                       "answer to the rejected one than the reference does: ln 2 = 0.693 at the start, 0 when every "
                       "pair is told apart by far. It is no cross-entropy: perplexity does not apply.")
        st.markdown("**How each run was made**")
        st.dataframe([{k: v for k, v in row.items() if k not in runs.RESULT_COLUMNS or k == "run"} for row in rows],
                     hide_index=True, key="cmp_settings", column_config={"run": st.column_config.TextColumn(pinned=True)})
        st.download_button("Download the table (CSV)", runs.to_csv(rows), file_name="llmviz-runs.csv", mime="text/csv",
                           key="cmp_csv", icon=":material/download:", on_click="ignore")
        if running and not any(all_runs[n].running for n in chosen):
            st.rerun()

    if chosen:
        compare()
    dropped = [n for n in group if n not in chosen]
    if st.button(f"Forget the {plural(len(dropped), 'run')} not selected" if dropped else "Forget the runs not selected",
                 key="cmp_forget", disabled=not dropped, help="Frees their memory; a run still training is stopped."):
        session_runs.forget(dropped)
        st.rerun()

st.subheader("The tutorial's results")
st.dataframe(runs.reference_rows(titles), hide_index=True, key="cmp_reference")
st.caption(f"Reference: {runs.REFERENCE_NOTE}. Our default corpus is not Tiny Shakespeare (pick it in the sidebar "
           "for a like-for-like comparison), and a short run stops before 5000 steps: compare the shapes.")
ui.code_expander(runs.record_of, runs.table_rows)
