"""The Vector databases page's RAG tab (a Streamlit helper, not a page): a model of the session answers with
and without the retrieved chunks, each answer marked right or wrong when the question's answer is known,
the prompt drawn as the model reads it, and the same pipeline run through LangChain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from llmviz.errors import LearnerError
from llmviz.plots import retrieval as retrieval_plots
from llmviz.retrieval import prompt_view, rag, rag_eval
from llmviz.tasks import chat
from llmviz.wording import plural
from pages.shared import session_runs, ui

ANSWERS = "vdb_answers"


def _verdict(column, text: str, answer: str) -> None:
    right = rag_eval.is_right(text, answer)
    column.markdown(f":{'green' if right else 'red'}[**{'right' if right else 'wrong'}**]: the answer is *{answer}*, "
                    + ("and the reply holds it." if right else "and the reply does not hold it."))


def _answers(asked, runs) -> tuple | None:
    c = st.columns(4)
    run_name = c[0].selectbox("Model", list(runs), key="vdb_rag_run")
    model, tok = runs[run_name].model, runs[run_name].tokenizer
    instruct = chat.has_chat_template(tok)
    names = list(rag.TEMPLATES)
    tname = c[1].selectbox("Prompt template", names, key="vdb_template", index=1 if instruct else 0)
    n_tokens = c[2].slider("Tokens to generate", 20, 500, 40 if instruct else 200, 20, key="vdb_rag_tokens")
    temperature = c[3].slider("Temperature", 0.0, 1.5, 0.0 if instruct else 0.8, 0.05, key="vdb_rag_temp")
    template = st.text_area("Template ({context} and {question} are filled in once: a brace in a chunk stays as written)",
                            rag.TEMPLATES[tname], key=f"vdb_template_text_{tname}", height=100)
    try:
        fit = prompt_view.passages_that_fit(tok, model.config.block_size, asked.question, asked.hits, template)
        found = len(asked.hits)
        n = 1 if found == 1 else st.slider(
            "Chunks in the prompt", 1, found, max(fit, 1), key=f"vdb_rag_n_{run_name}_{found}_{asked.question}",
            help="The search's first hits, best first. More chunks hold the answer more often, but a prompt longer "
                 "than the model's context loses its front, where the chunks are.")
        where = f"in this model's {model.config.block_size:,} tokens with room for a {prompt_view.ANSWER_ROOM}-token answer"
        st.caption(f"The search returned {plural(found, 'chunk')}: " + (
            f"even the first does not fit {where}." if fit == 0 else
            f"{'it fits' if found == 1 else 'all fit'} {where}." if fit == found else
            f"the first {fit:,} fit {where}; more would push the prompt's front out of its context."))
        asked = replace(asked, hits=asked.hits[:n], k=n)
        prompt = rag.build_prompt(asked.question, asked.hits, template)
    except LearnerError as e:
        st.warning(str(e))
        return None
    view = prompt_view.view(tok, model.config.block_size, prompt, [h.text for h in asked.hits])
    st.markdown(f"**The prompt as the model reads it** ({view.n:,} tokens, the {asked.method} hits highlighted)")
    tokens, kinds, skipped = view.shown()
    ui.plot(retrieval_plots.prompt_strip(tokens, kinds), key="vdb_prompt")
    st.caption(view.reading() + (f" (The strip leaves {skipped:,} tokens of the middle out.)" if skipped else ""))
    if view.forgotten:
        st.warning(f"This model reads only its last {model.config.block_size} tokens: the front of the prompt is cut "
                   "away before it reaches the model.", icon=":material/content_cut:")
    inputs = (run_name, template, asked.question, tuple(h.id for h in asked.hits), n_tokens, temperature)
    if st.button("Generate both answers", key="vdb_generate", icon=":material/auto_awesome:"):
        with st.spinner("Generating…"):
            st.session_state[ANSWERS] = (inputs, rag.answer(model, tok, asked.question, asked.hits, template,
                                                            n_tokens, temperature))
    kept = st.session_state.get(ANSWERS)
    if kept is not None and kept[0] != inputs:
        st.caption("The question, hits, model or settings changed since the last answers: generate again.")
        return None
    return (kept[1] if kept else None), model, tok, template, n_tokens, temperature, run_name, asked


def rag_tab(table, asked) -> None:
    runs = session_runs.usable()
    st.markdown(
        "The hits go into the prompt as context. A **base model** (Part 2) continues a text and does not answer it; "
        "an **instruct model** (Part 3) answers a question from the passages before it. On a generated world "
        "(the sidebar's texts), whose facts no model learned, a question of the table's set has a known answer: "
        "each reply is marked right or wrong, and only retrieval can supply the fact.")
    if not runs:
        st.info("Train a model on a Part 2 page, or instruction-tune one on the Instruct models page, to see it "
                "answer with and without the retrieved chunks.")
        return
    if asked is None or not asked.hits:
        st.info("Ask a question that finds some chunks in 'Three searches' first.")
        return
    got = _answers(asked, runs)
    if got is None:
        return
    answers, model, tok, template, n_tokens, temperature, run_name, asked = got  # asked: the chunks used
    if answers is not None:
        left, right = st.columns(2)
        left.markdown("**With the retrieved chunks**")
        left.code(answers.with_context, language=None, wrap_lines=True)
        right.markdown("**Without retrieval** (same seed)")
        right.code(answers.without_context, language=None, wrap_lines=True)
        if asked.known is not None and asked.known.answer:
            _verdict(left, answers.with_context, asked.known.answer)
            _verdict(right, answers.without_context, asked.known.answer)
        if answers.with_context == answers.without_context:
            st.caption(f"The two answers are the same: both prompts end with the same {answers.block_size} tokens, "
                       "all this model reads, so the retrieved chunks never reached it." if answers.prompt_tokens >
                       answers.block_size else "The two answers are the same: the passages did not change the reply.")
        if answers.dropped:
            st.caption("Left out of the prompt (the model cannot spell them): " + " ".join(map(repr, answers.dropped)))
    _langchain(table, asked, model, tok, template, n_tokens, temperature, run_name, answers)


def _langchain(table, asked, model, tok, template, n_tokens, temperature, run_name, answers) -> None:
    with st.expander("The same pipeline in LangChain", icon=":material/link:"):
        st.markdown("A LangChain **retriever** is one method: a query in, a list of `Document`s out. This table as a "
                    "retriever plugs into any chain: `question → retriever → prompt template → model`.")
        st.page_link("pages/langchain_concepts.py", label="LangChain's other concepts on your model", icon=":material/link:")
        st.code(Path(rag.__file__).with_name("langchain_rag.py").read_text(), language="python")
        if not st.button("Run it through LangChain", key="vdb_lc"):
            return
        from llmviz.retrieval.langchain_rag import VectorTableRetriever, model_chat, model_llm, rag_chain, rag_chat_chain

        retriever = VectorTableRetriever(table=table, k=asked.k, where=asked.where, exact=asked.exact,
                                         params=asked.params, method=asked.method)
        docs = retriever.invoke(asked.question)
        same = [d.metadata["id"] for d in docs] == [h.id for h in asked.hits]
        st.write(f"The retriever ({asked.method}): {len(docs)} Documents, ids {[d.metadata['id'] for d in docs]}: "
                 + ("the same chunks as above." if same else "not the chunks above (was the table rebuilt?)."))
        if chat.has_chat_template(tok):
            text = rag_chat_chain(retriever, model_chat(model, tok, n_tokens), template, tokenizer=tok).invoke(asked.question)
        else:
            text = rag_chain(retriever, model_llm(model, tok, n_tokens, temperature, seed=0), template,
                             tokenizer=tok).invoke(asked.question)
        st.markdown(f"The chain's answer, from **{run_name}**:")
        st.code(text, language=None, wrap_lines=True)
        if answers is not None:
            st.caption("The same text as 'With the retrieved chunks' above: the same prompt, model and seed."
                       if text.strip() == answers.with_context.strip() else
                       "Not the text above: the sampling settings changed.")
