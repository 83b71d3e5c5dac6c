"""Chat, context and prompts: memory is the conversation pasted back in; context is a sentence in the prompt;
prompt engineering is choosing the words; a tool the model calls."""

from __future__ import annotations

import streamlit as st

from llmviz.tasks import chat, instruct, instruct_data, prompting, tools
from llmviz.text import corpora
from llmviz.tasks.chat import Message
from llmviz.errors import LearnerError
from llmviz.plots import instruct as instruct_plots
from llmviz.plots import training as training_plots
from llmviz.training.train import TrainingRun
from pages.shared import session_runs, ui
from pages.shared.playground import upload

st.title("Chat, context and prompts")
st.markdown(
    "Prompts all the way down. A chat model answers **isolated requests**: its \"memory\" is the whole conversation "
    "pasted back into every prompt, and what no longer fits in its context (block_size tokens) is simply gone. "
    "**Context** is a sentence added to the prompt. **Prompt engineering** is choosing the words — and the "
    "examples — that get the answer you want."
)

with st.expander("Load an instruct checkpoint (e.g. made by `python -m llmviz instruct --out chat.safetensors`)"):
    got = upload("cc")
    if got is not None:
        ck, file_name = got
        if chat.has_chat_template(ck.tokenizer):
            st.session_state["cc_model"] = session_runs.add(TrainingRun.inspect(ck, "it was loaded to chat with"),
                                                     f"loaded {file_name}")
        else:
            st.warning(f"{file_name} has no chat tokens: it is a base model. Instruction-tune it first.")
models = {n: r for n, r in session_runs.usable().items() if chat.has_chat_template(r.tokenizer)}
if not models:
    st.info("This page needs an instruct model: instruction-tune one on the previous page (or load one above), "
            "then come back.", icon=":material/info:")
    st.page_link("pages/instruct.py", label="Instruct models", icon=":material/arrow_back:")
    st.stop()
name = st.selectbox("Instruct model", list(models), key="cc_model")
run = models[name]
model, tok, block = run.model, run.tokenizer, run.model_cfg.block_size
offered = tools.BUILT_IN if chat.has_tool_calls(tok) else ()  # the tools the model is told it has

# --- chat and memory ---------------------------------------------------------------------------------
st.header("1 · A chat, and the prompt behind it")
history = st.session_state.setdefault("cc_history", [])
left, right = st.columns([1, 1])
with left:
    for m in history:
        with st.chat_message("assistant" if m.role in ("assistant", "tool") else "user"):
            st.markdown(f"`{m.role}` {m.content}" if m.role == "tool" else
                        f"`calls {tools.format_call(m.tool_calls[0])}`" if m.tool_calls else m.content)
    said = st.chat_input("Ask: Remember this: Ann lives in Rome.  ·  What is 123+456?  ·  Where does Ann live?",
                         key="cc_in")
    if said:
        try:
            _, steps = instruct.answer(model, tok, [*history, Message("user", said)], tool_list=offered)
            history += [Message("user", said), *steps]
        except LearnerError as e:
            st.warning(str(e))
        st.rerun()
    if history and st.button("Start a new conversation", key="cc_clear"):
        history.clear()
        st.rerun()
with right:
    if history:
        ids, learned = chat.encode(tok, history, generation_prompt=True, tools=offered)
        forgotten, kept = chat.fit_context(ids, block)
        ui.plot(instruct_plots.token_strip(*chat.token_kinds(tok, ids, [False] * len(ids), len(forgotten))), key="cc_prompt")
        st.caption(f"The next prompt: {len(ids)} tokens for a context of {block}. "
                   + (f"The first {len(forgotten)} are cut off (red): the model will not see them — it forgets."
                      if forgotten else "All of it fits: the model sees the whole conversation."))
    else:
        st.caption("The whole prompt sent at each turn appears here.")
if st.button("Measure memory: a fact three or more turns back, in the context and pushed out of it", key="cc_mem"):
    with st.spinner("Asking…"):
        examples = instruct.make_examples(0, 120, seed=0, tasks=("memory", "shout"))[1]
        st.session_state["cc_mem_acc"] = {"in the context": instruct.accuracy(model, tok, examples, 20).get("memory", 0.0),
                                          "pushed out": instruct.forgetting(model, tok, examples, 20) or 0.0}
if "cc_mem_acc" in st.session_state:
    acc = st.session_state["cc_mem_acc"]
    ui.plot(instruct_plots.accuracy_bars({k: {"memory": v} for k, v in acc.items()}), key="cc_mem_bars")
    st.caption(f"With the first turn in its {block}-token context the model answers {acc['in the context']:.0%} of "
               f"the memory questions; with it pushed out, {acc['pushed out']:.0%}: "
               + ("what is outside the context is forgotten." if acc["pushed out"] < acc["in the context"]
                  else "no difference: this model has not learned to use the first turn."))

# --- context -------------------------------------------------------------------------------------------
st.header("2 · Context: a sentence in the prompt")
c1, c2 = st.columns(2)
fact = c1.text_input("Context", "Ann lives in Oslo.", key="cc_fact")
question = c2.text_input("Question", "Where does Ann live?", key="cc_question")
try:
    without = instruct.reply(model, tok, [Message("user", question)])
    with_ctx = instruct.reply(model, tok, [Message("user", f"{fact} {question}".strip())])
    c1.metric("without the context", without or "∅")
    c2.metric("with the context", with_ctx or "∅")
except LearnerError as e:
    st.warning(str(e))

# --- prompt engineering ----------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=1)
def held_out():
    return instruct.make_examples(seed=0, style_text=corpora.shakespeare().text)


train, held = held_out()
st.header("3 · Prompt engineering: the same question, other words")
task = st.radio("Task", [t for t in instruct_data.CHECKABLE if t != "tool"], horizontal=True, key="cc_task")
cases = [e for e in held if e.task == task and len(e.messages) == 2][:10] or [e for e in held if e.task == task][:10]
i = st.selectbox("Question", range(len(cases)), format_func=lambda k: cases[k].prompt[-1].content, key="cc_case")
variants = instruct.wordings(cases[i], [e for e in train if e.task == task][:3])
labels = [tok.decode([k]) for k in range(tok.vocab_size)]
results = prompting.wordings(model, tok, cases[i], variants)  # each wording's whole answer, greedy
acc_key = ("cc_acc", name, task, i)
acc = st.session_state.get("cc_acc", {}).get(acc_key)
cols = st.columns(len(variants))
for col, w in zip(cols, results):
    with col:
        st.markdown(f"**{w.label}** · {w.tokens} tokens" + (" (cut to the context)" if w.cut else ""))
        st.code(w.answer or "(no answer)", language=None, wrap_lines=True)
        st.markdown((":green[:material/check: right]" if w.right else f":red[:material/close: wrong, expected "
                     f"{cases[i].answer!r}]") + (f" · sampled: **{acc[w.label]:.0%}** right" if acc else ""))
if st.button("Accuracy over 20 sampled answers (temperature 1) for each wording", key="cc_sample"):
    with st.spinner("Sampling…"):
        acc = {label: prompting.accuracy(model, tok, cases[i], msgs, 20) for label, msgs in variants.items()}
        st.session_state["cc_acc"] = {acc_key: acc}
        st.rerun()
st.markdown(prompting.reading(results, acc))
st.caption("Why: the probability of each first token of the answer (a confident first token can still begin a wrong "
           "answer).")
cols = st.columns(len(variants))
for col, w in zip(cols, results):  # the probabilities the answers above started from, not computed again
    with col:
        ui.plot(training_plots.probability_bars(w.probs, labels, top=5, title=f"{w.label}: first token"),
                key=f"cc_bars_{w.label}")

# --- a tool ------------------------------------------------------------------------------------------------
st.header("4 · A tool: the agent idea in miniature")
st.markdown("Asked for 3-digit arithmetic, the model writes a call, `<|call|>calculator{\"expression\":\"a+b\"}`. Either the program runs the calculator and "
            "gives the result back as a `tool` turn, or the model must guess the result itself.")
if st.button("Measure on 30 held-out sums: alone vs with the tool", key="cc_tool"):
    with st.spinner("Asking…"):
        st.session_state["cc_tool_acc"] = {
            "the model alone": instruct.accuracy(model, tok, held, 30, use_tool=False)["tool"],
            "the tool executed": instruct.accuracy(model, tok, held, 30, use_tool=True)["tool"]}
if "cc_tool_acc" in st.session_state:
    ui.plot(instruct_plots.accuracy_bars({k: {"arithmetic": v} for k, v in st.session_state["cc_tool_acc"].items()}),
             key="cc_tool_bars")
ui.code_expander(chat.fit_context, instruct.answer, tools.calculator)
