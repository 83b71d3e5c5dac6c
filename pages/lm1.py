"""LM1: token embedding -> one attention head -> linear head, without and with the causal mask."""

import streamlit as st

from llmviz.concepts import cheating
from llmviz.training import pace
from llmviz.training.presets import PRESETS
from pages.shared import run_view, session_runs, training_panel, ui


def choose() -> str:
    masked = st.toggle("Causal mask", value=False, key="lm1_mask", bind="query-params", persist_state="session",
                       help="Off: the tutorial's first LM1, which may look at later positions. On: the honest one.")
    preset = "lm1-masked" if masked else "lm1"
    st.info(PRESETS[preset].description, icon=":material/visibility:" if masked else ":material/visibility_off:")
    return preset


model_cfg, train_cfg, problems = training_panel.lm_page("lm1", choose)

st.header("The punchline: the unmasked model cheats")
st.markdown(cheating.PUNCHLINE)
c = st.columns(4)
pair_iters = run_view.widget(c[0].slider, "Steps for the pair", "lm1_pair_iters", cheating.PAIR_STEPS,
                                   min_value=50, max_value=5000, step=50)
pair_lr = run_view.widget(c[1].select_slider, "Learning rate for the pair", "lm1_pair_lr",
                                cheating.PAIR_LEARNING_RATE, options=training_panel.LR_OPTIONS,
                                format_func=lambda v: f"{v:g}")
pair_cfg = cheating.pair_settings(train_cfg, pair_lr, pair_iters)
st.markdown(f"**Train both, side by side**, with the settings above and these two (defaults: "
            f"{cheating.PAIR_STEPS} steps at {cheating.PAIR_LEARNING_RATE:g}, enough for the cheat to pay); both "
            f"train at once, predicted here: **{pace.say(pace.predict(model_cfg, pair_cfg, pair_cfg.device).seconds)}**:")
names = training_panel.pair("lm1", {"LM1 unmasked": ("lm1", {"causal": False}),
                                    "LM1 masked": ("lm1-masked", {"causal": True})},
                            model_cfg, pair_cfg, problems)
done = [r for r in map(session_runs.get, names) if r is not None and r.snapshot().done and r.history]
if len(done) == 2:
    (a, b), (sa, sb) = (r.history[-1] for r in done), (r.snapshot().extra.get("sample", "") for r in done)
    v = cheating.judge(a.val_loss, b.val_loss, sa, sb, ui.current_corpus().text)
    st.markdown(f"Unmasked: train {a.train_loss:.3f} / validation {a.val_loss:.3f}; masked: train "
                f"{b.train_loss:.3f} / validation {b.val_loss:.3f}.")
    show = {"shown": st.success, "alike": st.info, "close": st.warning, "reversed": st.warning}[v.kind]
    show(v.message, icon=":material/lightbulb:")
ui.code_expander(cheating.char_mix_distance, cheating.judge, title="The code that judges the pair")
