"""Instruct models: the chat format, instruction tuning live, base vs tuned on held-out questions."""

from __future__ import annotations

import streamlit as st

from llmviz.tasks import chat, finetune, instruct, preference
from llmviz.text import corpora
from llmviz.errors import LearnerError
from llmviz.wording import plural
from llmviz.plots import instruct as instruct_plots
from llmviz.plots import preference as preference_plots
from pages.shared import base_model, run_view, session_runs, ui

st.title("Instruct models")
st.markdown(
    "Ask a pre-trained model \"Where does Ann live?\" and it writes more of its text: it **continues documents**, "
    "it does not follow instructions. **Instruction tuning** trains it on conversations in which only the "
    "assistant's words are learned. " + plural(len(instruct.TASKS), "small task").capitalize()
    + ", generated here, make the idea visible in minutes on a CPU: " + "; ".join(f"**{t}**: {d}" for t, d in instruct.TASKS.items()) + "."
)
RUN, HELD = "it_run", "it_held"


# cache_resource, not cache_data: the 20,200 examples are frozen dataclasses nobody changes, and cache_data's
# copy (unpickling them all) cost every run of this page half a second
@st.cache_resource(show_spinner=False, max_entries=1)
def examples(seed: int = 0):
    return instruct.make_examples(seed=seed, style_text=corpora.shakespeare().text)


@st.cache_resource(show_spinner=False)
def demo_tokenizer():
    """The assistant base's own tokenizer (its byte-level BPE of the plays) plus the chat tokens: the format as
    the default base reads it, without loading the model."""
    return chat.with_chat_tokens(finetune.base_tokenizer())


train, held = examples()

# --- the chat format -------------------------------------------------------------------------------
st.header("1 · The chat format, as the model sees it")
task = st.radio("Task", list(instruct.TASKS), horizontal=True, key="it_task")
example = next(e for e in train if e.task == task)
tok_demo = demo_tokenizer()
ids, learned = chat.encode(tok_demo, example.messages, tools=example.tools)
ui.plot(instruct_plots.token_strip(*chat.token_kinds(tok_demo, ids, learned)), key="it_strip")
st.caption(f"{len(ids)} tokens. Each role tag and the end of each turn is ONE special token (blue); the model reads "
           "the grey ones and learns to write only the green ones: their targets are kept, every other target is "
           "set to -100, which the cross-entropy ignores. A tool's result is read, not learned: the program writes it.")

# --- instruction tuning ---------------------------------------------------------------------------------
st.header("2 · Instruction-tune a base")
base, label, _ = base_model.choose("it")
if base is None:
    st.stop()
steps = st.slider("Steps", 200, 8000, 1500, step=100, key="it_steps",
                  help="On the assistant base 1,500 steps took about 8 minutes on a 2-core CPU and brought context, tool, shout, style and memory to 95-100 %; three passages are not learned yet (the model copies the name asked for and guesses the fact; passages alone reached 45 % in 1,000 steps).")
run = session_runs.get(st.session_state.get(RUN))
start, stop = ui.train_stop_buttons("it", run is not None and run.running)
if start:
    try:
        new, held_out = instruct.start(base, instruct.default_config(steps, ui.current_device()),
                                       style_text=corpora.shakespeare().text)
    except LearnerError as e:
        st.error(str(e), icon=":material/error:")
    else:
        st.session_state[RUN] = session_runs.add(ui.start_job(new), f"instruct · {label}")
        st.rerun()
if stop and run is not None:
    run.stop()
if run is not None:
    name = st.session_state[RUN]
    run_view.watch([name], "it_live")

    @st.fragment(run_every=1.0 if run.running else None)
    def live_accuracy():
        if sum(1 for r in run.history if r.other) < 2:  # one point on 0–1 axes says nothing yet
            st.caption("Held-out accuracy per task: measuring… (the chart starts at the second estimate)")
        else:
            ui.plot(instruct_plots.accuracy_curves(run.history, list(instruct.TASKS)), key="it_acc")

    live_accuracy()

# --- base vs tuned ---------------------------------------------------------------------------------------
st.header("3 · The same question, base and tuned")
tuned = run if run is not None and run.usable else None
questions = [e for e in held if e.task == task][:20]
q = st.selectbox("A held-out question", range(len(questions)), key="it_q",
                 format_func=lambda i: questions[i].prompt[-1].content)
e = questions[q]
cols = st.columns(2)
cols[0].markdown(f"**The base** ({label}) continues the transcript:")
cols[0].code(chat.format_chat(e.prompt, tools=e.tools).prompt
             + instruct.base_answer(base.model, base.tokenizer, e.prompt, tool_list=e.tools),
             language=None, wrap_lines=True)
if tuned is None:
    cols[1].info("Instruction-tune it above to see the tuned model answer.")
else:
    got, steps_taken = instruct.answer(tuned.model, tuned.tokenizer, e.prompt, tool_list=e.tools)
    cols[1].markdown("**The tuned model** answers" + (" (calling a tool):" if len(steps_taken) > 1 else ":"))
    cols[1].code(chat.format_chat([*e.prompt, *steps_taken], tuned.tokenizer, False, e.tools).prompt,
                 language=None, wrap_lines=True)
    cols[1].caption(("✓ right" if instruct.correct(e, got) else f"✗ expected {e.answer!r}"))
    if st.button("Measure held-out accuracy, base vs tuned (20 questions a task)", key="it_measure"):
        with st.spinner("Asking both models…"):
            st.session_state["it_scores"] = {
                "base": instruct.accuracy(base.model, base.tokenizer, held, 20),
                "tuned": instruct.accuracy(tuned.model, tuned.tokenizer, held, 20)}
    if "it_scores" in st.session_state:
        ui.plot(instruct_plots.accuracy_bars(st.session_state["it_scores"]), key="it_bars")

# --- preference tuning ------------------------------------------------------------------------------------
st.header("4 · Beyond: preference tuning (DPO)")
st.markdown(
    "The slides name RLHF as what makes an instruct model pleasant: people rank answers, the model learns the "
    "ranking. Its simplest practical form is **DPO** (direct preference optimisation): for pairs of a chosen and a "
    "rejected answer, raise log π(chosen) − log π(rejected) relative to a frozen copy of the model (the reference), "
    f"so the model only moves as far as the preferences ask. Here the preferences follow a rule you can read: "
    f"**{preference.RULE}**."
)
if tuned is None:
    st.info("It starts from the instruction-tuned model: train one above first.")
else:
    c = st.columns(2)
    beta = c[0].select_slider("β (how far from the reference it may go: smaller = further)", [0.05, 0.1, 0.2, 0.5, 1.0],
                              value=preference.BETA, key="it_beta")
    dpo_steps = c[1].slider("Steps", 50, 1000, 300, step=50, key="it_dpo_steps")
    dpo = session_runs.get(st.session_state.get("it_dpo"))
    go_, stop_ = ui.train_stop_buttons("it_dpo", dpo is not None and dpo.running)
    if go_:
        cfg = instruct.default_config(dpo_steps, ui.current_device())
        cfg = preference.config(cfg, dpo_steps)
        try:
            new, _ = preference.start(tuned.model, tuned.tokenizer, cfg, corpora.shakespeare().text, beta)
            start_name = st.session_state[RUN]  # the run it really starts from: the instruction-tuned model
        except LearnerError as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.session_state["it_dpo"] = session_runs.add(ui.start_job(new), f"preference-tuned · {start_name}")
            st.rerun()
    if stop_ and dpo is not None:
        dpo.stop()
    if dpo is not None:
        @st.fragment(run_every=1.0 if dpo.running else None)
        def live_preference():  # DPO's own measures, not a language model's cross-entropy
            snap = dpo.snapshot()
            st.progress(snap.fraction, text=f"**{st.session_state['it_dpo']}**: {snap.state} · step {snap.step:,} "
                                            f"of {snap.total:,}{ui.time_left(snap)}")
            if sum(1 for r in snap.history if r.other and "margin" in r.other) < 2:
                st.caption("measuring… (the charts start at the second estimate)")
                return
            ui.plot(preference_plots.dpo_curves(snap.history, dpo.batches.beta), key="it_dpo_curves")
            ui.plot(instruct_plots.preference_curves(snap.history), key="it_pref")
            st.caption(preference.reading(snap.history))

        live_preference()
ui.code_expander(chat.encode, chat.training_pair, instruct.start, preference.PreferenceBatches)
