"""Bad inputs against the checkpoint loader, the command line, Stop, a closed tab and a big corpus.

    python bench/bench_reliability.py            # everything (about 3 minutes on a 2-core CPU)
    python bench/bench_reliability.py --quick    # without the slow-model Stop timings and the browser
    python bench/bench_reliability.py --only server      # the model server's faults (bench/reliability_faults.py)
    python bench/bench_reliability.py --only "vector database"

Each bad input counts as handled cleanly when it is either accepted into something usable or refused
with a message in words (a CheckpointError, or the command line's "error: ..." and exit status 2);
anything else (another exception, a traceback, a hang) counts as a failure and is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import reliability_faults  # noqa: E402  (beside this file)

from llmviz.io import checkpoint  # noqa: E402
from llmviz.nn.model import ModelConfig  # noqa: E402
from llmviz.training.train import TrainConfig, TrainingRun  # noqa: E402

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 40
WRONG = ["abc", None, True, [], {}, -1, 0, 2.5, float("nan"), float("inf"), -1e308, 10**30, 2**63, "x" * 100_000]


def split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header, body):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def with_info(data, change):
    header, body = split(data)
    info = json.loads(header["__metadata__"]["llmviz"])
    change(info)
    header["__metadata__"]["llmviz"] = json.dumps(info)
    return join(header, body)


def clean_load(data) -> tuple[bool, str]:
    from llmviz.nn.generate import generate_text

    try:
        ck = checkpoint.from_bytes(data)
    except checkpoint.CheckpointError as e:
        return bool(str(e)) and "Traceback" not in str(e), "refused"
    except Exception as e:  # noqa: BLE001 - what the bench is looking for
        return False, f"{type(e).__name__}: {e}"[:200]
    try:  # accepted: it must be usable the way the app uses it
        assert all(type(v) is float for r in ck.history for v in r[1:6])
        generate_text(ck.model, ck.tokenizer, "", 3, seed=0)
        TrainingRun.inspect(ck)
    except Exception as e:  # noqa: BLE001
        return False, f"accepted but unusable: {type(e).__name__}: {e}"[:200]
    return True, "accepted"


def checkpoints() -> dict:
    torch.set_num_threads(1)
    run = TrainingRun.new(ModelConfig(block_size=8, n_embd=16, n_head=2, n_layer=1),
                          TrainConfig(max_iters=4, eval_interval=2, eval_iters=1, batch_size=4, sample_tokens=4), TEXT)
    run.train()
    good = checkpoint.run_to_bytes(run, {"corpus": "hamlet"})
    header, body = split(good)
    issue = {  # the issue's crafted files
        "step='abc'": lambda i: i.update(step="abc"),
        "best_val_loss='abc'": lambda i: i.update(best_val_loss="abc"),
        "string n_embd": lambda i: i["model_config"].update(n_embd="16"),
        "string learning_rate": lambda i: i["train_config"].update(learning_rate="3e-4"),
        "scalar key without a dot": lambda i: i.update(optimizer={"scalars": {"nodot": 1.0}}),
        "history with string losses": lambda i: [r.update(train_loss="abc", val_loss="abc") for r in i["history"]],
        "n_embd 2048, n_layer 4": lambda i: i["model_config"].update(n_embd=2048, n_layer=4),
        "block_size 4,000,000": lambda i: i["model_config"].update(block_size=4_000_000),
        "n_embd 8192 x 6 layers": lambda i: i["model_config"].update(n_embd=8192, n_layer=6),
    }
    cases = [(k, with_info(good, f)) for k, f in issue.items()]
    h = copy.deepcopy(header)
    h["optim.x.exp_avg"] = h.pop("optim.lm_head.weight.exp_avg")
    cases.append(("tensor named optim.x.*", join(h, body)))
    doc = json.loads(header["__metadata__"]["llmviz"])

    def paths(node, path=()):
        if path:
            yield path
        if isinstance(node, dict):
            for k, v in node.items():
                yield from paths(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node[:2]):
                yield from paths(v, path + (i,))

    def setter(path, value):
        def change(info):
            node = info
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = copy.deepcopy(value)
        return change

    for p in paths(doc):
        for v in WRONG:
            cases.append((f"{'.'.join(map(str, p))} = {str(v)[:20]}", with_info(good, setter(p, v))))
    for cut in range(0, len(good), len(good) // 50):
        cases.append((f"truncated at {cut}", good[:cut]))
    cases.append(("padded", good + b"\0" * 1000))
    for key in ("shape", "dtype", "data_offsets"):
        for v in WRONG + [[2**40, 2**40], [-1, 4], [4, 2]]:
            h = copy.deepcopy(header)
            h["model.lm_head.weight"][key] = v
            cases.append((f"table {key} = {str(v)[:20]}", join(h, body)))
    results = [(name, *clean_load(data)) for name, data in cases]
    bad = [(n, why) for n, ok, why in results if not ok]
    out = {"checkpoint cases": len(results), "handled cleanly": len(results) - len(bad),
           "refused": sum(why == "refused" for _, ok, why in results if ok),
           "accepted and usable": sum(why == "accepted" for _, ok, why in results if ok),
           "issue's files refused": sum(1 for n, ok, why in results[:len(issue) + 1] if ok and why == "refused"),
           "issue's files": len(issue) + 1, "failures": bad[:10]}
    out["huge model: peak RSS growth (MB)"] = huge_model_memory()
    return out


def huge_model_memory() -> float:
    script = ("import json,resource,struct,sys\n"
              "from llmviz import checkpoint\n"
              "from llmviz.nn.model import LanguageModel, ModelConfig\n"
              "from llmviz.text.tokenizers import CharTokenizer\n"
              "from llmviz.training.train import TrainConfig\n"
              "from safetensors.torch import load, save\n"
              "t='to be or not\\n'; good=checkpoint.to_bytes(LanguageModel(ModelConfig(vocab_size=len(set(t)),"
              "block_size=8,n_embd=16,n_head=2)),CharTokenizer().train(t),TrainConfig())\n"
              "(n,)=struct.unpack('<Q',good[:8]); meta=json.loads(good[8:8+n])['__metadata__']\n"
              "checkpoint.from_bytes(good)\n"
              "before=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "for cfg in (dict(n_embd=2048,n_layer=4),dict(n_embd=2048,n_layer=3),dict(n_embd=8192,n_layer=6)):\n"
              "    i=json.loads(meta['llmviz']); i['model_config'].update(cfg)\n"
              "    try: checkpoint.from_bytes(save(load(good),metadata={**meta,'llmviz':json.dumps(i)}))\n"
              "    except checkpoint.CheckpointError: pass\n"
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-before)/1024)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def cli() -> dict:
    from llmviz.cli.main import main

    tmp = Path(tempfile.mkdtemp())
    corpus = tmp / "york.txt"
    corpus.write_text("Now is the winter of our discontent made glorious summer by this sun of York.\n" * 50)
    small = ["--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size", "8", "--eval-iters", "2",
             "--eval-interval", "10", "--sample-tokens", "5"]
    ck = tmp / "ck.safetensors"
    with contextlib.redirect_stderr(io.StringIO()):
        main(["train", "--corpus", str(corpus), "--iters", "3", "--out", str(ck), "--quiet", *small])
    (tmp / "file").write_text("x")
    train = [["--lr", "nan"], ["--lr", "inf"], ["--lr", "-1"], ["--iters", "0"], ["--iters", "-5"],
             ["--seed", "-1"], ["--dropout", "nan"], ["--batch-size", "0"], ["--out", str(tmp / "file" / "x"),
             "--iters", "100000"], ["--out", str(tmp)], ["--resume", str(ck), "--n-embd", "64"],
             ["--resume", str(ck), "--preset", "lm1"], ["--resume", str(tmp / "file")]]
    generate = [["--temperature", "nan"], ["--temperature", "-1"], ["--top-k", "-3"], ["--top-k", "0"],
                ["--top-p", "0"], ["--top-p", "1.5"], ["--top-p", "nan"], ["--max-new-tokens", "-5"],
                ["--max-new-tokens", "0"], ["--seed", "-2"]]
    rows = []
    for args in train:
        rows.append(["train", "--corpus", str(corpus), "--quiet", *(small if "--resume" not in args else []), *args])
    for args in generate:
        rows.append(["generate", "--checkpoint", str(ck), *args])
    failures = []
    for argv in rows:
        err = io.StringIO()
        t = time.perf_counter()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = main(argv)
        except BaseException as e:  # noqa: BLE001
            rc, err = -1, io.StringIO(f"{type(e).__name__}: {e}")
        text = err.getvalue()
        if rc != 2 or "error:" not in text or "Traceback" in text or time.perf_counter() - t > 10:
            failures.append((argv[3:], rc, text[-200:]))
    return {"command-line cases": len(rows), "handled cleanly": len(rows) - len(failures), "failures": failures}


def stop_timings() -> dict:
    """The issue's run: LM5 at block 256, n_embd 384, 6 heads, 6 layers, batch 128, 100 steps."""
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 400
    cfg = ModelConfig(vocab_size=0, block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2)
    out = {}
    for where, train, wait in (("inside the first loss estimate", dict(eval_iters=200), lambda r: time.sleep(5)),
                               ("inside a training step", dict(eval_iters=1), None),
                               ("inside a text sample", dict(eval_iters=1, sample_tokens=100_000), None)):
        settings = {**dict(batch_size=128, max_iters=100, eval_interval=100, sample_tokens=0, threads=2), **train}
        run = TrainingRun.new(cfg, TrainConfig(**settings), text)
        if where == "inside the first loss estimate":
            out["predicted time of the issue's run"] = round(run.predict().seconds)
        t0 = time.perf_counter()
        run.start()
        eta_after = None
        while eta_after is None and run.running:
            if run.snapshot().eta is not None:
                eta_after = time.perf_counter() - t0
            time.sleep(0.01)
        if wait:
            wait(run)
        else:
            while not run.history:
                time.sleep(0.05)
            time.sleep(1.0 if "step" in where else 0.5)
        t = time.perf_counter()
        run.stop()
        run.join(600)
        out[f"Stop {where}: seconds to stopped"] = round(time.perf_counter() - t, 2)
        out.setdefault("seconds from start to an ETA", round(eta_after, 2))
    # the first measured pass: one forward pass of the estimate
    run = TrainingRun.new(cfg, TrainConfig(batch_size=128, max_iters=100, eval_iters=200, sample_tokens=0, threads=2), text)
    run.start()
    time.sleep(12)
    snap = run.snapshot()
    out["ETA after 12 s (first passes measured)"] = f"{snap.eta:.0f} s" if snap.eta is not None else None
    run.stop()
    run.join(600)
    return out


def closed_tab() -> dict:
    from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, streamlit_server, wait_until_idle

    from pages._registry import PAGES
    from pages.shared.ui import UNWATCHED_S

    if chromium_path() is None:
        return {"closed tab": "skipped (no chromium)"}
    from playwright.sync_api import sync_playwright

    lm2 = next(p for p in PAGES if p.path == "pages/lm2.py")
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as pw:
        log = ARTIFACTS / f"streamlit-{url.rsplit(':', 1)[1]}.log"
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(url + "/")
        wait_until_idle(page)
        page.goto(f"{url}/{lm2.url_path}?lm2_iters=5000&lm2_eval_interval=1000&lm2_eval_iters=1&lm2_batch=128"
                  "&lm2_embd=128&lm2_sample=0")
        wait_until_idle(page)
        page.locator(".st-key-lm2_train button").click()
        page.wait_for_function("() => /running/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText)",
                               timeout=60_000)
        time.sleep(2)
        t = time.monotonic()
        ctx.close()
        while "nobody watched it" not in log.read_text() and time.monotonic() - t < 120:
            time.sleep(0.2)
        stopped = time.monotonic() - t
        browser.close()
    return {"closed tab: seconds until its training stopped": round(stopped, 1), "UNWATCHED_S": UNWATCHED_S}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def big_corpus() -> dict:
    from llmviz.text.corpora import Corpus
    from llmviz.text.tokenizers import CharTokenizer

    shared = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
    base = shared.read_text() if shared.is_file() else TEXT * 300
    text = (base * (45_000_000 // len(base) + 1))[:45_000_000]
    out = {"corpus characters": len(text)}
    before = rss_mb()
    t = time.perf_counter()
    corpus = Corpus("big", text)
    ids = corpus.char_ids
    out["char ids: seconds, once per corpus"] = round(time.perf_counter() - t, 2)
    out["char ids: MB (int32 array)"] = round(ids.nbytes / 2**20, 1)
    out["RSS growth making them (MB)"] = round(rss_mb() - before, 1)
    t = time.perf_counter()
    as_list = CharTokenizer(corpus.chars).encode(text[:5_000_000])
    per_char = (sys.getsizeof(as_list)) / len(as_list)
    out["the same as a Python list (MB, estimated)"] = round(per_char * len(text) / 2**20, 1)
    del as_list
    # the next-token page revisited: memory must not grow with each visit
    from tests.conftest import open_page

    state = {"corpus_source": "upload", "corpus": corpus}
    at = open_page("pages/next_token.py", session_state=state)
    first = rss_mb()
    for _ in range(5):
        at.switch_page("pages/home.py").run()
        at.switch_page("pages/next_token.py").run()
    out["next-token page: RSS growth over 5 revisits (MB)"] = round(rss_mb() - first, 1)
    t = time.perf_counter()
    before = rss_mb()
    run = TrainingRun.new(ModelConfig(vocab_size=0), TrainConfig(), text)
    out["TrainingRun.new on it: seconds"] = round(time.perf_counter() - t, 2)
    out["TrainingRun.new on it: RSS growth (MB)"] = round(rss_mb() - before, 1)
    del run
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["checkpoints", "command line", "big corpus", "stop", "closed tab", "server",
                                       "vector database"])
    args = ap.parse_args()
    sections = {"checkpoints": checkpoints, "command line": cli, "big corpus": big_corpus,
                "server": reliability_faults.server, "vector database": reliability_faults.vectors}
    if not args.quick:
        sections.update({"stop": stop_timings, "closed tab": closed_tab})
    if args.only:
        sections = {args.only: {**sections, "stop": stop_timings, "closed tab": closed_tab}[args.only]}
    total = clean = 0
    for name, fn in sections.items():
        res = fn()
        print(f"## {name}")
        for k, v in res.items():
            print(f"  {k}: {v}")
        for key in ("checkpoint cases", "command-line cases"):
            if key in res:
                total += res[key]
                clean += res["handled cleanly"]
        sys.stdout.flush()
    print(f"bad inputs handled cleanly: {clean} of {total}")


if __name__ == "__main__":
    main()
