"""What changed since GPT-2: the NanoGPT speedrun's changes trained against LM5's CPU recipe, by wall time."""

import streamlit as st

from llmviz.errors import LearnerError
from llmviz.plots import training as training_plots
from llmviz.training import recipes
from pages.shared import ui

KEY = "gpt2_recipes"

st.title("What changed since GPT-2")
st.markdown(
    "GPT-2 (2019) is LM5 made big: learned position embeddings, LayerNorm, a GELU feed-forward layer, AdamW "
    "with a cosine schedule. Since then the **NanoGPT speedrun** brought GPT-2's quality from 45 minutes of "
    "8 GPUs to about 3, mostly through a handful of changes to that recipe. Each is one setting of this app's "
    "model or trainer: pick some, train them on your text against **fast-cpu** (LM5's shape, tuned for a "
    "CPU), and see which reaches the target loss first. The runs go **one after another**, each with the "
    "whole CPU, and are compared by **wall time**, not steps: a slower step that learns more wins if it gets "
    "there sooner."
)
for change in recipes.CHANGES.values():
    st.markdown(f"- **{change.name}**: {change.sentence}")

c1, c2 = st.columns([3, 1])
picked = c1.multiselect("Changes to train (each alone, or all at once)", [*recipes.CHANGES, "all"],
                        default=["muon", "all"], key=f"{KEY}_picked")
target = c2.number_input("Target validation loss", 1.0, 3.0, recipes.TARGET, 0.01, key=f"{KEY}_target")
queue = st.session_state.get(KEY)
start, stop = ui.train_stop_buttons(KEY, bool(queue and queue.running), can_start=bool(picked))
st.caption(f"Trains {recipes.BASE} and {len(picked)} variant{'s' if len(picked) != 1 else ''} on "
           f"\"{ui.current_corpus().name}\", each until its validation loss reaches the target or its "
           f"{recipes.settings(())[1].max_iters} steps end.")
if start:
    try:
        variants = {name: recipes.settings([] if name == recipes.BASE else [name]) for name in [recipes.BASE, *picked]}
        st.session_state[KEY] = queue = ui.start_job(recipes.OneAfterAnother(variants, ui.current_corpus().text, target))
    except LearnerError as e:
        st.error(str(e), icon=":material/error:")
if stop and queue:
    queue.stop()

if queue is None:
    st.info("Press **Train**: the loss curves against time and the table fill in as each run finishes.",
            icon=":material/info:")
else:
    @st.fragment(run_every=1.0 if queue.running else None)
    def watch():
        snap = queue.snapshot()
        ui.job_progress(snap, f"run {min(snap.step + 1, snap.total)} of {snap.total}")
        histories = {n: h for n, h in queue.histories().items() if h}
        if histories:
            ui.plot(training_plots.loss_curves(histories, "elapsed", reference={f"target {queue.target}": queue.target}),
                    key=f"{KEY}_loss")
            rows = recipes.ablation(histories, queue.target)
            st.dataframe(rows, hide_index=True, key=f"{KEY}_table")
            st.caption(recipes.verdict(rows, queue.target) + " \"Validation at equal time\": each run's loss at the "
                       f"moment {recipes.BASE} reached the target.")
        if not queue.running and snap.state != "running" and st.session_state.get(f"{KEY}_was_running"):
            st.session_state[f"{KEY}_was_running"] = False
            st.rerun()
        st.session_state[f"{KEY}_was_running"] = queue.running

    watch()

for change in recipes.CHANGES.values():
    if change.code:
        ui.code_expander(*change.code, title=f"The code behind {change.name}")
