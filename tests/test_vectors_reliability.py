"""The vector database under bad input, faults and concurrency (issue 28): numbers, names and filters
refused in words, a filter that fails on the rows, damaged table files, an encoder-decoder given to the
lm embedder, Ctrl-C during a build, and two builds of one table (one wins, the other is told)."""

import glob
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from llmviz.cli.main import main
from llmviz.errors import LearnerError
from llmviz.nn.encoder_decoder import EncoderDecoder, EncoderDecoderConfig
from llmviz.retrieval import database, embedders, rag
from llmviz.retrieval.chunking import ChunkConfig
from llmviz.retrieval.vectordb import VectorTable
from tests.vector_fixtures import lm_embedder, speech_corpus

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "plays.txt"
    path.write_text(speech_corpus(60).text, encoding="utf-8")
    return path


@pytest.fixture()
def db(tmp_path, text_file):
    assert main(["index", "--corpus", str(text_file), "--dim", "8", "--db", str(tmp_path), "--table", "t"]) == 0
    return tmp_path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("flags, words", [
    (["--k", "0"], "--k must be at least 1"), (["--nprobes", "0"], "--nprobes must be at least 1"),
    (["--nprobes", "-1"], "--nprobes"), (["--refine-factor", "-1"], "--refine-factor must be at least 0"),
    (["--where", "id = 1; DROP TABLE t"], "one expression"), (["--where", "speaker = 'A; B"], "never closes"),
    (["--where", "   "], "filter is empty"), (["--where", "id / 0 = 1"], "cannot be used"),
    (["--where", "CAST(text AS INT) = 1"], "cannot be used"), (["--table", "a/../b"], "cannot be a table name"),
    (["--table", "x" * 300], "cannot be a table name")])
def test_bad_search_requests_are_refused_in_words_and_change_nothing(db, capsys, flags, words):
    before = VectorTable.open(db, "t").table.version
    argv = ["search", "--db", db, "--query", "sea ship", *flags]
    code, err = cli(capsys, *(argv if "--table" in flags else [*argv, "--table", "t"]))
    assert code == 2 and words in err and "Traceback" not in err
    assert VectorTable.open(db, "t").table.version == before and VectorTable.open(db, "t").rows > 0


@pytest.mark.parametrize("flags, words", [
    (["--dim", "0"], "--dim must be at least 1"), (["--dim", "100000"], "more than this command makes"),
    (["--table", "bad name!"], "cannot be a table name"), (["--table", "x" * 300], "cannot be a table name"),
    (["--w2v-epochs", "0"], "--w2v-epochs")])
def test_bad_index_requests_are_refused_before_any_work(tmp_path, text_file, capsys, flags, words):
    code, err = cli(capsys, "index", "--corpus", text_file, "--db", tmp_path, *flags)
    assert code == 2 and words in err
    assert database.list_tables(tmp_path) == []


@pytest.mark.parametrize("damage", ["data", "manifest", "versions"])
def test_a_damaged_table_is_refused_in_words_and_replace_rebuilds_it(db, text_file, capsys, damage):
    folder = db / "t.lance"
    if damage == "data":
        for f in glob.glob(str(folder / "data" / "*.lance")):
            with open(f, "r+b") as fh:
                fh.truncate(100)
    elif damage == "manifest":
        for f in glob.glob(str(folder / "_versions" / "*.manifest")):
            Path(f).write_bytes(b"not a manifest" * 3)
    else:
        for f in (folder / "_versions").iterdir():
            f.unlink()
    code, err = cli(capsys, "search", "--db", db, "--table", "t", "--query", "sea ship")
    assert code == 2 and "cannot be read" in err and "damaged" in err and "Traceback" not in err
    assert ".cargo" not in err and ".rs:" not in err  # LanceDB's Rust source location is left out
    code, err = cli(capsys, "index", "--corpus", text_file, "--dim", "8", "--db", db, "--table", "t")
    assert code == 2 and ("damaged" in err or "already exists" in err)  # not written over without --replace
    assert cli(capsys, "index", "--corpus", text_file, "--dim", "8", "--db", db, "--table", "t", "--replace")[0] == 0
    assert cli(capsys, "search", "--db", db, "--table", "t", "--query", "sea ship")[0] == 0


def test_the_lm_embedder_refuses_an_encoder_decoder():
    seq2seq = EncoderDecoder(EncoderDecoderConfig(vocab_size=12, block_size=8, n_embd=16, n_head=2, n_layer=1,
                                                  src_vocab_size=12, src_block_size=8, n_encoder_layer=1))
    with pytest.raises(embedders.EmbedderError, match="encoder-decoder"):
        embedders.LMEmbedder(seq2seq, object())


def test_the_lm_embedder_reads_only_the_last_hidden_state():
    corpus = speech_corpus(10)
    e = lm_embedder(corpus)
    texts = [c for c in corpus.text.split("\n\n") if c][:6]
    seen = {"record": 0, "head": 0}
    forward = e.model.forward

    def spy(*args, **kw):
        seen["record"] += kw.get("record") is not None
        return forward(*args, **kw)

    e.model.forward = spy
    e.model.lm_head.register_forward_hook(lambda *a: seen.__setitem__("head", seen["head"] + 1))
    got = e.embed(texts)
    assert seen == {"record": 0, "head": 0}  # no attention weights kept, no logits computed
    del e.model.forward
    # the reference: the full forward pass's own record, the final norm of the last block's output
    for text, vector in zip(texts, got):
        rec: dict = {}
        ids = e.tokenizer.encode(text)
        h = []
        for j in range(0, len(ids), e.model.config.block_size):
            e.model(torch.tensor([ids[j:j + e.model.config.block_size]]), record=rec)
            h.append(e.model.ln_f(rec["block_out"][-1])[0])
        assert torch.allclose(torch.cat(h).mean(0), torch.tensor(vector), atol=1e-5)


def test_ctrl_c_during_a_build_is_said_in_words_and_leaves_the_table(db, text_file, capsys, monkeypatch):
    before = VectorTable.open(db, "t").table.version

    def interrupted(self, texts):
        raise KeyboardInterrupt

    monkeypatch.setattr(embedders.LSAEmbedder, "embed", interrupted)
    code, err = cli(capsys, "index", "--corpus", text_file, "--dim", "8", "--db", db, "--table", "t", "--replace")
    assert code == 1 and "stopped (Ctrl-C)" in err and "as it was" in err
    monkeypatch.undo()
    assert VectorTable.open(db, "t").table.version == before
    assert cli(capsys, "search", "--db", db, "--table", "t", "--query", "sea ship")[0] == 0


def test_a_second_build_of_a_table_being_built_is_told_and_writes_nothing(tmp_path, text_file, capsys):
    started, finish = threading.Event(), threading.Event()
    corpus = speech_corpus(60)
    slow = embedders.LSAEmbedder.fit([c for c in corpus.text.split("\n\n") if c], embedders.LSAConfig(dim=6))
    embed = slow.embed

    def waiting(texts):
        started.set()
        assert finish.wait(30)
        return embed(texts)

    slow.embed = waiting
    first = threading.Thread(target=rag.build, args=(corpus, ChunkConfig("speech", 600, 100), slow, tmp_path, "t"))
    first.start()
    try:
        assert started.wait(30)
        for replace in ([], ["--replace"]):  # --replace does not take over another build either
            code, err = cli(capsys, "index", "--corpus", text_file, "--dim", "8", "--db", tmp_path, "--table", "t",
                            *replace)
            assert code == 2 and "another build of the table 't' is running" in err
    finally:
        finish.set()
        first.join(30)
    assert VectorTable.open(tmp_path, "t").dim == 6  # the first build's table, not the second's
    code, err = cli(capsys, "index", "--corpus", text_file, "--dim", "8", "--db", tmp_path, "--table", "t")
    assert code == 2 and "already exists" in err and VectorTable.open(tmp_path, "t").dim == 6


@pytest.mark.slow
def test_two_index_processes_on_one_new_table_one_wins_the_other_is_told(tmp_path, text_file):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "llmviz", "index", "--corpus", str(text_file), "--db", str(tmp_path),
            "--table", "t", "--json"]
    for trial in range(2):
        procs = [subprocess.Popen([*argv, "--dim", str(6 + i)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(2)]
        results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
        codes = sorted(r[0] for r in results)
        assert codes == [0, 2], results
        winner = next(i for i, r in enumerate(results) if r[0] == 0)
        loser = results[1 - winner][2]
        assert ("another build" in loser or "already exists" in loser) and "Traceback" not in loser
        assert VectorTable.open(tmp_path, "t").dim == 6 + winner  # the winner's table, never overwritten
        for f in tmp_path.iterdir():
            if f.name != "_llmviz":
                subprocess.run(["rm", "-rf", str(f)], check=True)
        subprocess.run(["rm", "-rf", str(tmp_path / "_llmviz" / "t")], check=True)


def test_filters_and_names_are_checked_by_rule():
    assert database.check_filter("speaker = 'A;B' AND section = 'it''s; fine'") is not None
    assert database.check_filter(None) is None
    for bad in ("id = 1;", "id = 1 ; select 1", "x" * 3000):
        with pytest.raises(LearnerError):
            database.check_filter(bad)
    assert database.check_name("plays_lsa-2") == "plays_lsa-2"
    for bad in ("", "a b", "../x", "x" * 65, "é"):
        with pytest.raises(LearnerError):
            database.check_name(bad)


def test_a_passage_holding_the_slots_is_not_filled_in_again():
    from llmviz.retrieval.search import Hit

    hits = [Hit(0, 1.0, "He wrote {question} and {context} on the wall.", "", "", 0, 10)]
    prompt = rag.build_prompt("who wrote it?", hits, "{context}\n\nQ: {question}\nA:")
    assert prompt == "He wrote {question} and {context} on the wall.\n\nQ: who wrote it?\nA:"
    assert rag.build_prompt("say {context}", [], "{context}|{question}") == "|say {context}"


def test_a_build_job_embeds_with_its_own_copy_of_a_live_model(tmp_path):
    corpus = speech_corpus(20)
    live = lm_embedder(corpus)
    job = rag.build_job(corpus, ChunkConfig("speech", 600, 100), live, tmp_path, "lm")
    with torch.no_grad():
        for p in live.model.parameters():  # the learner trains on meanwhile
            p.add_(1.0)
    job.start().join(60)
    table = job.result
    assert table is not None and table.embedder.model is not live.model
    expected = lm_embedder(corpus).embed([c.text for c in rag.chunk(corpus, ChunkConfig("speech", 600, 100))[:3]])
    assert np.allclose(table.vectors()[1][:3], expected, atol=1e-5)  # the weights as they were at the press
