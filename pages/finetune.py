"""Pre-training and fine-tuning: a base model, then full fine-tuning, a frozen body and LoRA side by side."""

from __future__ import annotations

import streamlit as st

from llmviz.tasks import finetune, finetune_compare
from llmviz.nn import generate, lora
from llmviz.plots import finetune as finetune_plots
from llmviz.wording import plural
from pages.shared import base_model, run_view, session_runs, ui

st.title("Pre-training and fine-tuning")
st.markdown(
    "Four words of Part 3. **Pre-training**: a model learns the language from a large general text. "
    "**Instruct training**: it learns to answer requests (next page). **Fine-tuning**: it learns a domain, "
    "starting from its pre-trained weights. **LoRA**: fine-tuning through a tiny low-rank update ΔW = B·A on "
    "every linear layer while the weights stay frozen (plus the embedding and head rows of the tokens the new text "
    "relies on); how close it comes to full fine-tuning, and at what size, is measured below. Here you pre-train (or pick) a base, then "
    "fine-tune it three ways on a new text and watch what each learns — and what each **forgets**."
)

RUNS = "ft_runs"


def continuation(key, ck, prompt: str, n: int = 200) -> str:
    """A seeded sample, computed once per model and prompt (reruns redraw it without generating again)."""
    memo = st.session_state.setdefault("ft_samples", {})
    if (key, prompt) not in memo:
        memo[(key, prompt)] = generate.generate_text(ck.model, ck.tokenizer, prompt, n, temperature=0.8, seed=0)
    return memo[(key, prompt)]


@st.cache_data(show_spinner=False, max_entries=8)
def relied_on(_tokenizer, base_label: str, vocab_size: int, text: str, original: str | None) -> tuple[int, ...]:
    """finetune.new_tokens, once per base and texts (counting both texts' tokens takes about a second)."""
    return finetune.new_tokens(_tokenizer, text, original)


# --- 1. the base model ------------------------------------------------------------------------------
st.header("1 · A pre-trained base")
base, label, original = base_model.choose("ft")

if base is not None:
    st.caption(f"Base: **{label}** · {base.model.num_params():,} parameters · {base.tokenizer.vocab_size} tokens · "
               f"{base.step:,} steps of pre-training.")
    st.markdown("**What pre-training gives**: it continues any prompt in the style of its text, whatever you ask.")
    prompt = st.text_input("Ask it something", "Create a python function to generate the Fibonacci sequence\n",
                           key="ft_ask")
    missing = finetune.unspellable(base.tokenizer, prompt)
    if missing:
        st.warning(f"The base cannot spell {missing!r}: change the prompt.")
    else:
        st.code(prompt + continuation(label, base, prompt), language=None, wrap_lines=True)

# --- 2. fine-tuning -------------------------------------------------------------------------------------
st.header("2 · Fine-tune it on a new text, three ways")
if base is None:
    st.stop()
domain_choice = st.radio("The new (domain) text", ["The Python reference (built-in)", "The sidebar's text"],
                         key="ft_domain", horizontal=True)
domain = ui.python_docs_text() if domain_choice.startswith("The Python") else ui.current_corpus()
text = domain.text
missing = finetune.unspellable(base.tokenizer, text)
if missing:
    kept, share = finetune.drop_unspellable(base.tokenizer, text)
    st.warning(f"The base's tokenizer cannot spell {len(missing)} character(s) of '{domain.name}': {missing!r}. "
               "Pick another text, or drop them.", icon=":material/block:")
    if not st.checkbox(f"Drop those characters (keeps {share:.1%} of the text)", key="ft_drop"):
        st.stop()
    text = kept

c = st.columns([3, 2])
methods = c[0].multiselect("Methods", list(finetune.METHODS), default=list(finetune.METHODS), key="ft_methods",
                           format_func=lambda m: {"full": "full", "frozen": "frozen body", "lora": "LoRA"}[m],
                           help="\n".join(f"- {m}: {d}" for m, d in finetune.METHODS.items()))
steps = c[1].slider("Steps", 50, 2000, finetune.STEPS, step=50, key="ft_steps")
c = st.columns(2)
HOW = finetune.FineTuning()
rank = c[0].select_slider("LoRA rank r", [1, 2, 4, 8, 16, 32, 64], value=HOW.rank, key="ft_rank")
alpha = c[1].select_slider("LoRA alpha", [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], value=HOW.alpha, key="ft_alpha",
                           help="ΔW = B·A · alpha / r: alpha sets how loud the update is.")
targets = st.multiselect("Matrices LoRA adapts", list(lora.TARGETS), default=list(HOW.targets), key="ft_targets",
                         format_func=lambda t: f"{t}: {lora.TARGETS[t]}")
fresh = relied_on(base.tokenizer, label, base.tokenizer.vocab_size, text, original)
rows = st.checkbox(f"LoRA also trains the embedding and head rows of the {plural(len(fresh), 'token')} the new text "
                   "relies on", value=HOW.new_token_rows, key="ft_rows", disabled=not fresh,
                   help=f"Those the original text never uses (pre-training never showed them: their rows are "
                        f"untrained) and those the new text uses at least {finetune.RELIED_ON:g}× as often (barely "
                        "shaped); no low-rank update of the body reaches a row. peft does the same with "
                        "trainable_token_indices.")
problems = lora.problems(base.model, rank, targets) if "lora" in methods else []
for p in problems:
    st.warning(p, icon=":material/block:")

names = st.session_state.get(RUNS, {})
running = any(r is not None and r.running for r in map(session_runs.get, names.values()))
if st.button("Fine-tune", key="ft_go", type="primary", icon=":material/play_arrow:",
             disabled=running or not methods or bool(problems)):
    started = {}
    for m in methods:
        cfg = finetune.config_for(base.train_config, m, steps, ui.current_device())
        try:
            run = finetune.start(base, text, cfg, finetune.FineTuning(m, rank, alpha, tuple(targets), rows), original)
        except finetune.TrainingError as e:
            st.error(f"{m}: {e}", icon=":material/error:")
            break
        started[m] = session_runs.add(ui.start_job(run), f"fine-tuned · {m}")
    st.session_state[RUNS] = started
    st.session_state["ft_runs_base"] = base
    st.rerun()

if names:
    run_view.watch(list(names.values()), "ft_live")
    runs = {m: session_runs.get(n) for m, n in names.items() if session_runs.get(n) is not None}

    @st.fragment(run_every=1.0 if running else None)
    def compare():
        ui.plot(finetune_plots.forgetting({names[m]: r.history for m, r in runs.items()}), key="ft_forgetting")
        numbers = finetune_compare.measures(runs, sizes=not running)  # sizes once every run is done
        st.dataframe(finetune_compare.compare(numbers), hide_index=True, key="ft_table")
        st.caption("Bytes to keep: what must be stored beside the base, only what trained (the adapter file for "
                   "LoRA, the trained tensors for the frozen body, the whole model for full fine-tuning).")
        if not running and finetune_compare.reading(numbers):
            st.markdown(finetune_compare.reading(numbers))

    compare()
    done = {m: r for m, r in runs.items() if r.usable}
    if done:
        st.subheader("Samples from the same prompt, before and after")
        cols = st.columns(len(done) + 1)
        cols[0].caption("the base")
        prompt = "def "
        cols[0].code(prompt + continuation(label, base, prompt, 150), language=None, wrap_lines=True)
        for col, (m, r) in zip(cols[1:], done.items()):
            col.caption(names[m])
            col.code(prompt + continuation((names[m], r.step), r, prompt, 150), language=None, wrap_lines=True)
        for m, r in done.items():
            data = finetune.to_keep(r)
            what = "the adapters" if m == "lora" else "the fine-tuned model"
            st.download_button(f"Download {what} of {m} fine-tuning ({len(data):,} bytes)", data,
                               file_name=f"llmviz-{m}.safetensors", key=f"ft_dl_{m}", icon=":material/download:",
                               on_click="ignore")
        st.page_link("pages/lora.py", label="Look inside LoRA: its ΔW beside full fine-tuning's", icon=":material/arrow_forward:")

ui.code_expander(finetune.start, finetune.trainable_filter, lora.LoRALinear)
