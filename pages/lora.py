"""LoRA, inside: ΔW = B·A beside full fine-tuning's update, its singular values, merge and unmerge, adapters alone."""

from __future__ import annotations

import streamlit as st

from llmviz.tasks import finetune, finetune_compare
from llmviz.nn import lora
from llmviz.plots import finetune as finetune_plots
from pages.shared import session_runs, ui

st.title("LoRA, inside")
st.markdown(
    "LoRA rests on a hypothesis of its paper: the update fine-tuning makes to a weight matrix is nearly "
    "**low-rank**, a few directions carrying most of it. So instead of learning ΔW (out × in numbers), learn B "
    "(out × r) and A (r × in) with ΔW = B·A · α/r. The paper adapts GPT-3's query and value matrices with r = 4 and "
    "shrinks what must be stored about 10,000×. Here you look at your own adapters, and measure the hypothesis on "
    "your own full fine-tuning."
)

names = st.session_state.get("ft_runs", {})
base = st.session_state.get("ft_runs_base")
runs = {m: session_runs.get(n) for m, n in names.items()}
runs = {m: r for m, r in runs.items() if r is not None and r.usable}
if base is None or "lora" not in runs:
    st.info("Fine-tune a base with LoRA (and, to compare, fully) on the previous page first; its runs show up here.",
            icon=":material/info:")
    st.page_link("pages/finetune.py", label="Pre-training and fine-tuning", icon=":material/arrow_back:")
    st.stop()

adapted, full = runs["lora"], runs.get("full")
spec = adapted.model.adapters
st.caption(f"Adapters: rank r = {spec.rank}, alpha = {spec.alpha:g} on {', '.join(spec.targets)} · "
           f"{adapted.n_trainable:,} trainable numbers of {adapted.n_params:,}.")

st.header("ΔW, learned two ways")
sites = lora.sites(adapted.model)
layer, part = st.selectbox("Matrix", sites, format_func=lambda s: f"{s[0]} · {s[1]}", key="lora_site")
d_lora = lora.lora_delta(adapted.model, layer, part)
if full is None:
    st.info("Fine-tune fully too (previous page) to see its ΔW beside LoRA's.")
    ui.plot(finetune_plots.deltas(d_lora, 0 * d_lora), key="lora_deltas")
else:
    d_full = lora.full_delta(base.model, full.model, layer, lora.rows_of(adapted.model, layer, part))
    ui.plot(finetune_plots.deltas(d_lora, d_full), key="lora_deltas")
    s = lora.spectrum(d_full)
    share = lora.captured(s, spec.rank)
    st.markdown("**How low-rank is the real update?** The singular values of full fine-tuning's ΔW for this matrix "
                f"(its best rank-{spec.rank} approximation keeps **{share:.0%}** of it). "
                + finetune_compare.low_rank_reading(s.tolist(), spec.rank))
    ui.plot(finetune_plots.singular_values(s, spec.rank, share), key="lora_svd")

st.header("Merge, unmerge, and B = 0")
prompt = st.text_input("Prompt", "def fibonacci(n):", key="lora_prompt")
missing = finetune.unspellable(adapted.tokenizer, prompt)
if missing or not prompt:
    st.warning(f"Type a prompt its tokenizer can spell{f' (not {missing!r})' if missing else ''}.")
    st.stop()
ids = adapted.tokenizer.encode(prompt)
checks = finetune.inside_checks(adapted, base, ids)
c = st.columns(3)
c[0].metric("merged vs adapters", f"{checks['merged']:.1e}", help="largest logit difference: W + B·A·α/r in one matrix")
c[1].metric("unmerged again", f"{checks['unmerged']:.1e}", help="the merge taken out: the adapters' output again")
c[2].metric("fresh adapters (B = 0) vs base", f"{checks['identity']:.1e}", help="at step 0 LoRA changes nothing")
st.caption("Differences of 1e-6 are float32 rounding: merging costs nothing at inference and changes nothing.")

st.header("The adapters alone")
trip = finetune.adapter_round_trip(adapted, base, ids)
st.markdown(f"The adapter file holds **{trip['bytes']:,} bytes**. Loaded onto its base, the outputs match the "
            f"fine-tuned model's (largest difference {trip['same_base_max_diff']:.1e}). Onto another base of the same "
            "shape, it must be refused, because its ΔW was learned for this base's weights:")
if trip["other_base_refused"]:
    st.success(f"The check works: refused. {trip['other_base_refused']}", icon=":material/verified_user:")
else:
    st.error("It was not refused: the check failed (a bug).", icon=":material/error:")
ui.code_expander(lora.LoRALinear, lora.apply_lora, finetune.adapter_round_trip)
