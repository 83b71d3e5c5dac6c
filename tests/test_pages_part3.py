"""The Part 3 pages in AppTest: pre-train or pick a base, fine-tune three ways side by side, look inside LoRA."""

import time

import pytest

from llmviz.text import corpora
from llmviz.tasks import finetune
from llmviz.nn.model import ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun
from tests.conftest import open_page

FT, LORA = "pages/finetune.py", "pages/lora.py"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def cached_base(empty_cache):
    """A tiny stand-in for the app's pre-trained base, cached where the page looks for it."""
    text = corpora.shakespeare(corpora.DEFAULT_PLAYS, 20_000).text
    tok = finetune.base_vocabulary(corpora.shakespeare().text, corpora.python_docs().text)
    cfg = TrainConfig(max_iters=20, eval_interval=20, eval_iters=2, batch_size=8, learning_rate=3e-3, sample_tokens=0,
                      threads=1)
    # a context of 160 characters: the short tasks and the tool calls fit, three passages do not
    run = TrainingRun.new(ModelConfig(vocab_size=0, block_size=160, n_embd=32, n_head=2, n_layer=2), cfg, text,
                          tokenizer=tok, preset="fast-cpu")
    run.train()
    return finetune.save_base(run)


def busy(run) -> bool:
    """Whether a run still trains, asked the way the page's watcher asks (so it counts as watching it)."""
    return run.snapshot().state == "running"


def wait_for_runs(at, timeout=120):
    names = at.session_state["ft_runs"]
    deadline = time.time() + timeout
    # a list, not a generator: any() would stop at the first busy run, and the others, not asked, would count
    # as unwatched and stop themselves (llmviz.jobs) when the machine is slow
    while time.time() < deadline and any([busy(at.session_state["runs"][n]) for n in names.values()]):
        time.sleep(0.2)
    at.run()
    return names


def test_without_a_cached_base_the_page_offers_to_pre_train_it(empty_cache):
    at = open_page(FT)
    assert not at.exception
    assert at.button(key="base_pretrain_go") and not at.button(key="base_pretrain_go").disabled
    assert any("not made yet" in i.value for i in at.info)


@pytest.mark.slow
def test_fine_tune_three_ways_then_look_inside_lora(cached_base):
    at = open_page(FT)
    assert not at.exception and not at.error
    assert any("Base:" in c.value for c in at.caption)
    assert any("Fibonacci" in c.value for c in at.code)  # what pre-training gives: a continuation
    at.slider(key="ft_steps").set_value(50).run()
    at.select_slider(key="ft_rank").set_value(4).run()  # this test's base is narrow: r = 4 keeps LoRA the smallest
    at.button(key="ft_go").click().run()
    names = wait_for_runs(at)
    assert set(names) == {"full", "frozen", "lora"}
    runs = {m: at.session_state["runs"][n] for m, n in names.items()}
    assert all(r.state == "finished" and r.step == 50 for r in runs.values())
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["method"]) == ["full", "frozen", "lora"]
    pct = {m: float(t.split(" %")[0]) for m, t in zip(table["method"], table["trains"])}
    assert pct["full"] == 100 and 0 < pct["lora"] < pct["frozen"] < 100
    sizes = {m: int(b.replace(",", "")) for m, b in zip(table["method"], table["bytes to keep"])}
    assert sizes["lora"] < sizes["frozen"] < sizes["full"]  # only what trained is kept
    reading = [md.value for md in at.markdown if md.value.startswith("LoRA r = 4")]
    assert reading and f"{sizes['lora']:,} bytes" in reading[0]  # the sentence under the table, from its numbers
    assert all("→" in t for t in table["original text: loss"])
    assert all(r.history[-1].other and "original" in r.history[-1].other for r in runs.values())

    at.switch_page(LORA).run()
    assert not at.exception and not at.error  # the refusal below is the check's success, not an error
    assert at.selectbox(key="lora_site").options  # one entry per adapted matrix
    metrics = {m.label: float(m.value) for m in at.metric}
    assert metrics["fresh adapters (B = 0) vs base"] == 0.0
    assert metrics["merged vs adapters"] < 1e-4 and metrics["unmerged again"] == 0.0  # unmerge restores W exactly
    assert any("another base model" in e.value and "refused" in e.value for e in at.success)  # the check works
    assert any("singular values" in md.value and "directions" in md.value for md in at.markdown)
    assert any("largest difference 0.0e+00" in md.value for md in at.markdown)  # loaded onto its base: the same model


def test_lora_page_without_runs_points_back(empty_cache):
    at = open_page(LORA)
    assert not at.exception and any("Fine-tune a base with LoRA" in i.value for i in at.info)


@pytest.mark.slow
def test_instruction_tune_then_chat_with_context_prompts_and_a_tool(cached_base):
    at = open_page("pages/instruct.py")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) >= 1  # the conversation, token by token
    # ... as the default base reads it: its own BPE tokens, as many as the caption says
    from llmviz.tasks import chat, finetune, instruct
    example = next(e for e in instruct.make_examples(seed=0)[0] if e.task == at.radio(key="it_task").value)
    from llmviz.text.bpe import BPETokenizer
    bpe = BPETokenizer().train(corpora.shakespeare(corpora.DEFAULT_PLAYS).text, vocab_size=finetune.ASSISTANT_BASE.vocab_size)
    n = len(chat.encode(chat.with_chat_tokens(bpe), example.messages, tools=example.tools)[0])
    assert n < len(example.messages[0].content)  # tokens, not characters
    assert any(c.value.startswith(f"{n} tokens.") for c in at.caption), n
    assert f"{len(instruct.TASKS)} small tasks" in at.markdown[0].value
    at.slider(key="it_steps").set_value(200).run()
    at.button(key="it_train").click().run()
    name = at.session_state["it_run"]
    run = at.session_state["runs"][name]
    deadline = time.time() + 180
    while busy(run) and time.time() < deadline:
        time.sleep(0.3)
    at.run()
    assert run.state == "finished" and not at.exception
    assert {"acc context", "acc tool", "acc shout", "acc style"} <= set(run.history[-1].other)
    assert "acc passages" not in run.history[-1].other  # 160 characters cannot hold three passages
    sample = run.snapshot().extra["sample"]
    assert sample.endswith("<|end|>") and sample.count("<|end|>") == sample.count("<|user|>") + sample.count(
        "<|system|>") + 1  # the live sample stops where the model's turn ends
    assert any("tuned model" in m.value for m in at.markdown)
    # preference tuning starts from the tuned model
    at.slider(key="it_dpo_steps").set_value(50).run()
    at.button(key="it_dpo_train").click().run()
    dpo = at.session_state["runs"][at.session_state["it_dpo"]]
    deadline = time.time() + 180
    while busy(dpo) and time.time() < deadline:
        time.sleep(0.3)
    at.run()
    assert dpo.state == "finished" and not at.exception
    assert {"preferred", "drift", "dpo_loss", "margin", "logp_chosen", "logp_rejected"} <= set(dpo.history[-1].other)
    assert at.session_state["it_dpo"] == f"preference-tuned · {name}"  # named after the run it started from
    assert any(c.value.startswith("Answers that follow the rule") and "reward margin" in c.value for c in at.caption)
    assert name not in at.radio(key="it_base_choice").options  # the base picker lists bases, not tuned runs

    at.switch_page("pages/chat_context.py").run()
    assert not at.exception and at.selectbox(key="cc_model").value == name
    at.chat_input(key="cc_in").set_value("Ann lives in Rome. Where does Ann live?").run()
    history = at.session_state["cc_history"]
    assert [m.role for m in history][:2] == ["user", "assistant"] and not at.exception
    assert any("The next prompt:" in c.value for c in at.caption)
    assert {m.label for m in at.metric} >= {"without the context", "with the context"}
    assert any(m.value.startswith("Greedy, ") and "wordings get the right answer" in m.value for m in at.markdown)
    at.button(key="cc_tool").click().run()
    assert set(at.session_state["cc_tool_acc"]) == {"the model alone", "the tool executed"}
    at.button(key="cc_mem").click().run()
    acc = at.session_state["cc_mem_acc"]
    assert set(acc) == {"in the context", "pushed out"} and not at.exception
    assert any(f"pushed out, {acc['pushed out']:.0%}" in c.value for c in at.caption)


def test_chat_page_without_an_instruct_model_points_back(empty_cache):
    at = open_page("pages/chat_context.py")
    assert not at.exception and any("needs an instruct model" in i.value for i in at.info)
