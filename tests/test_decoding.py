"""One decoding core: a seed gives the same text from the command line, the API and the batch engine,
whoever else is being served; stop strings end the text and a stream never shows half of one."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from llmviz.cli.main import main
from llmviz.io import checkpoint
from llmviz.nn.generate import StreamText, generate_text, generate_until
from llmviz.serving.api import create_app
from llmviz.serving.engine import BatchEngine, SamplingParams
from llmviz.text.bpe import BPETokenizer
from llmviz.text.tokenizers import CharTokenizer
from tests.test_serve import NAME, run  # noqa: F401  (the small trained checkpoint)

SETTINGS = [dict(temperature=1.0), dict(temperature=0.9, top_p=0.95), dict(temperature=0.8, top_k=5),
            dict(temperature=1.2, top_k=8, top_p=0.9), dict(temperature=0.0)]


def cli_generate(capsys, path, prompt: str, n: int, seed: int, temperature=1.0, top_k=None, top_p=None) -> str:
    argv = ["generate", "--checkpoint", str(path), "--prompt", prompt, "--max-new-tokens", str(n),
            "--seed", str(seed), "--temperature", str(temperature)]
    argv += ["--top-k", str(top_k)] if top_k else []
    argv += ["--top-p", str(top_p)] if top_p else []
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(prompt) and out.endswith("\n")
    return out[len(prompt):-1]


@pytest.mark.parametrize("kw", SETTINGS)
def test_the_command_line_and_the_api_give_the_same_text_for_a_seed(run, tmp_path, capsys, kw):  # noqa: F811
    path = checkpoint.save_run(tmp_path / "romeo.safetensors", run)
    ck = checkpoint.load(path)
    with TestClient(create_app(ck.model, ck.tokenizer, NAME)) as api:
        for seed in (3, 11):
            r = api.post("/v1/completions", json={"model": NAME, "prompt": "ROMEO:", "max_tokens": 30, "seed": seed,
                                                  **kw})
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["text"] == cli_generate(capsys, path, "ROMEO:", 30, seed, **kw)


def test_concurrent_requests_with_different_settings_each_get_their_text_alone(run):  # noqa: F811
    requests = [(prompt, SamplingParams(max_tokens=20 + i % 3, seed=40 + i, stop=("\n\n",) if i % 2 else (),
                                        stream=i % 3 == 0, **SETTINGS[i % len(SETTINGS)]))
                for i, prompt in enumerate(["ROMEO:", "JULIET:", "O Romeo", "But soft"] * 3)]
    engine = BatchEngine(run.model, run.tokenizer).start()
    try:
        alone = [engine.complete(run.tokenizer.encode(p), params, timeout=60).text for p, params in requests]
        # generation outside the server (what the command line runs) writes the same text
        for (prompt, params), text in zip(requests, alone):
            free = generate_text(run.model, run.tokenizer, prompt, params.max_tokens, temperature=params.temperature,
                                 top_k=params.top_k, top_p=params.top_p, seed=params.seed)
            assert text == (free[:free.index("\n\n")] if params.stop and "\n\n" in free else free)
        before = dict(engine.batch_sizes)
        seqs = []
        with engine._cond:  # the scheduler waits until every request is queued: they all share each step
            for prompt, params in requests:
                seqs.append(engine.submit(run.tokenizer.encode(prompt), params, lambda d: None))
        end = time.monotonic() + 60
        while not all(s.done for s in seqs) and time.monotonic() < end:
            time.sleep(0.01)
        assert [s.text for s in seqs] == alone
        grown = {b: n - before.get(b, 0) for b, n in engine.batch_sizes.items() if n > before.get(b, 0)}
        assert max(grown) == len(requests), grown
    finally:
        engine.stop()


# --- stop strings ----------------------------------------------------------------------------------------

def fed(tokenizer, pieces, stop=()) -> tuple[list[str], StreamText]:
    """What a stream shows when the text arrives token by token (each piece one token's text)."""
    out, shown = StreamText(tokenizer, stop), []
    for piece in pieces:
        for t in tokenizer.encode(piece) if isinstance(piece, str) else [piece]:
            if out.add(t):
                break
            shown.append(out.take())
        if out.stopped:
            break
    shown.append(out.take(final=True))
    return shown, out


def test_the_start_of_a_stop_string_is_held_back_until_it_is_clearly_not_one():
    tok = CharTokenizer().train("abcdexy")
    shown, out = fed(tok, "xabcab", stop=("abd",))
    assert shown == ["x", "", "", "abc", "", "", "ab"]  # "a", then "ab" might begin "abd"
    assert out.text == "xabcab" and not out.stopped
    shown, out = fed(tok, "xabcabdyy", stop=("abd", "cc"))
    assert out.stopped and out.text == "xabc"
    # "c" might begin "cc", "a" and "ab" might begin "abd"; that "ab" was the stop string's start: never shown
    assert shown == ["x", "", "", "ab", "c", "", ""]


def test_a_stop_string_made_of_several_tokens_across_the_text_so_far():
    tok = CharTokenizer().train("ROMEO:\nJULIET ")
    shown, out = fed(tok, "ROMEO:\nO\n\nJULIET", stop=("\n\n", "JU"))
    assert out.text == "ROMEO:\nO" and out.stopped
    # a "\n" waits for the next token: shown with the "O" after it; the last one began the stop string
    assert shown == ["R", "O", "M", "E", "O", ":", "", "\nO", "", ""]


def test_half_a_character_is_never_shown():
    tok = BPETokenizer().train("aé € b " * 5, vocab_size=260)
    raw = list("é€".encode())  # byte tokens: each character is 2 or 3 of them
    shown, out = fed(tok, raw)
    assert out.text == "é€" and shown == ["", "é", "", "", "€", ""]


def test_generate_until_streams_exactly_the_text_it_returns(run):  # noqa: F811
    free = generate_text(run.model, run.tokenizer, "ROMEO:", 40, seed=2)
    # a two-character stop string whose first character the text has shown before (held back, then let go)
    stop = next(free[i:i + 2] for i in range(10, len(free) - 1) if free[i] in free[:i] and free[i:i + 2].strip())
    pieces = []
    text = generate_until(run.model, run.tokenizer, run.tokenizer.encode("ROMEO:"), 40, stop=[stop],
                          on_text=pieces.append, seed=2)
    assert text == free[:free.index(stop)]
    assert "".join(pieces) == text and len(pieces) > 3  # streamed, and never the start of the stop string
    ids = run.tokenizer.encode(free[:3])
    assert generate_until(run.model, run.tokenizer, run.tokenizer.encode("ROMEO:"), 40, stop_token_ids=ids[2:3],
                          seed=2) == free[:free.index(free[2])]
