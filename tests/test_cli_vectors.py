"""`python -m llmviz index` and `search`: JSON out, a table found again by a later command, filters,
--check's recall, and refusals (another embedder's table, an unwritable folder, a missing checkpoint)."""

import json

import numpy as np
import pytest
import torch

from llmviz.io import checkpoint
from llmviz.cli.main import main
from llmviz.training.config import TrainConfig
from llmviz.retrieval.vectordb import VectorTable
from tests.vector_fixtures import brute_force, lm_embedder, speech_corpus

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "plays.txt"
    path.write_text(speech_corpus(300, long_every=25).text, encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out.strip().splitlines()[-1]) if code == 0 and "--json" in argv else None), out.err


@pytest.mark.slow
def test_index_then_search_in_a_later_command(tmp_path, text_file, capsys):
    db = tmp_path / "db"
    code, built, _ = run(capsys, "index", "--corpus", text_file, "--embedder", "lsa", "--dim", 16, "--by", "speech",
                         "--db", db, "--table", "plays", "--index", "ivf_pq", "--json")
    assert code == 0
    assert built["table"] == "plays" and built["dimensions"] == 16 and built["rows"] > 256
    assert built["index"]["type"] == "IVF_PQ" and built["index"]["indexed_rows"] == built["rows"]
    assert built["bytes_on_disk"] > 0 and built["build_seconds"] > 0 and built["chunking"]["by"] == "speech"
    code, found, _ = run(capsys, "search", "--db", db, "--query", "storm at sea, the ship", "--k", 5, "--exact",
                         "--json")
    assert code == 0 and found["exact"] and len(found["hits"]) == 5
    table = VectorTable.open(db, "plays")
    ids, vectors = table.vectors()
    sims = brute_force(vectors, table.embed_query("storm at sea, the ship")[0])
    top = ids[np.argsort(-sims)[:5]].tolist()
    assert [h["id"] for h in found["hits"]] == top or np.allclose(sorted(-sims)[:5], [-h["score"] for h in found["hits"]],
                                                                  atol=1e-5)
    code, checked, _ = run(capsys, "search", "--db", db, "--query", "storm at sea, the ship", "--k", 10,
                           "--where", "speaker = 'ANTONIO'", "--check", "--json")
    assert code == 0 and not checked["exact"]  # the index answers by default
    assert all(h["speaker"] == "ANTONIO" for h in checked["hits"])
    c = checked["check"]
    assert c["recall"] == len(set(c["exact_ids"]) & set(c["index_ids"])) / c["k"] and c["exact_ms"] > 0
    code, _, err = run(capsys, "search", "--db", db, "--query", "ship", "--where", "colour = 1", "--json")
    assert code == 2 and "cannot be used" in err


def test_unknown_words_return_no_hits_and_say_so(tmp_path, text_file, capsys):
    db = tmp_path / "db"
    run(capsys, "index", "--corpus", text_file, "--dim", 8, "--db", db, "--json")
    code, found, _ = run(capsys, "search", "--db", db, "--query", "xyzzy plugh", "--json")
    assert code == 0 and found["hits"] == [] and "none of the words" in found["note"]
    code, _, err = run(capsys, "search", "--db", db, "--query", "   ", "--json")
    assert code == 2 and "empty question" in err


def test_another_embedders_table_is_refused_and_left_intact(tmp_path, text_file, capsys):
    db = tmp_path / "db"
    run(capsys, "index", "--corpus", text_file, "--dim", 8, "--db", db, "--table", "t", "--json")
    version = VectorTable.open(db, "t").table.version
    code, _, err = run(capsys, "index", "--corpus", text_file, "--embedder", "word2vec", "--db", db, "--table", "t",
                       "--json")
    assert code == 2 and "holds lsa vectors" in err and "word2vec" in err
    assert VectorTable.open(db, "t").table.version == version
    code, _, err = run(capsys, "index", "--corpus", text_file, "--dim", 8, "--db", db, "--table", "t", "--json")
    assert code == 2 and "already exists" in err
    code, again, _ = run(capsys, "index", "--corpus", text_file, "--dim", 6, "--db", db, "--table", "t", "--replace",
                         "--json")
    assert code == 0 and again["dimensions"] == 6


def test_word2vec_and_lm_embedders_on_the_command_line(tmp_path, text_file, capsys):
    db = tmp_path / "db"
    code, built, err = run(capsys, "index", "--corpus", text_file, "--embedder", "word2vec", "--dim", 8,
                           "--w2v-epochs", 1, "--db", db, "--json")
    assert code == 0 and built["embedder"] == "word2vec" and built["dimensions"] == 8 and "training word2vec" in err
    code, _, err = run(capsys, "index", "--corpus", text_file, "--embedder", "lm", "--db", db, "--json")
    assert code == 2 and "--checkpoint" in err
    emb = lm_embedder(speech_corpus(300, long_every=25))
    ck = checkpoint.save(tmp_path / "lm.safetensors", emb.model, emb.tokenizer, TrainConfig())
    code, built, _ = run(capsys, "index", "--corpus", text_file, "--embedder", "lm", "--checkpoint", ck, "--db", db,
                         "--json")
    assert code == 0 and built["embedder"] == "lm" and built["dimensions"] == 16
    code, found, _ = run(capsys, "search", "--db", db, "--table", built["table"], "--query", "ghost", "--k", 3, "--json")
    assert code == 0 and len(found["hits"]) == 3
    code, _, err = run(capsys, "search", "--db", db, "--query", "ghost")
    assert code == 2 and "choose one with --table" in err


def test_bad_folders_and_corpora(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "index", "--corpus", "python-docs", "--db", blocker / "db", "--json")
    assert code == 2 and "cannot write" in err
    code, _, err = run(capsys, "index", "--corpus", tmp_path / "missing.txt", "--db", tmp_path / "db")
    assert code == 2 and "unknown corpus" in err
    code, _, err = run(capsys, "search", "--db", tmp_path / "empty", "--query", "x")
    assert code == 2 and "no table yet" in err
