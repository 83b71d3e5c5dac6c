"""chat.prompt_view: a chat's next prompt as the model reads it, the cut-off front counted and marked."""

from llmviz.tasks import chat
from llmviz.tasks.chat import Message
from llmviz.text.tokenizers import CharTokenizer


def tokenizer():
    return chat.with_chat_tokens(CharTokenizer().train("abcdefghijklmnopqrstuvwxyz ?.AIRW"))


def test_a_short_chat_fits_and_a_long_one_loses_its_front():
    tok = tokenizer()
    talk = [Message("user", "Ann lives in Rome."), Message("assistant", "I will remember that."),
            Message("user", "Where does Ann live?")]
    ids, _ = chat.encode(tok, talk, generation_prompt=True)
    whole = chat.prompt_view(tok, talk, block_size=len(ids) + 5)
    assert whole.forgotten == 0 and "forgotten" not in whole.kinds and len(whole.tokens) == len(ids)
    assert "All of it fits" in whole.reading()
    short = chat.prompt_view(tok, talk, block_size=20)
    assert short.forgotten == len(ids) - 20  # fit_context keeps the last block_size - room + 1 tokens
    assert short.kinds[:short.forgotten] == ["forgotten"] * short.forgotten
    assert "forgotten" not in short.kinds[short.forgotten:]
    assert f"The first {short.forgotten} are cut off" in short.reading()
    assert "".join(short.tokens[short.forgotten:]).endswith("assistant")  # the generation prompt is read


def test_dict_messages_as_langchain_pages_send_them():
    tok = tokenizer()
    view = chat.prompt_view(tok, [{"role": "user", "content": "hi"}], block_size=64)
    assert view.tokens[0] == "user" and view.kinds[0] == "tag"


def test_the_rag_tab_offers_as_many_chunks_as_the_context_holds():
    from llmviz.retrieval import prompt_view, rag
    from llmviz.retrieval.search import Hit

    tok = CharTokenizer().train("abcdefghijklmnopqrstuvwxyz ?.AIRW\n{}")  # a base model: one token a character
    hits = [Hit(i, 1.0, "a" * 40, "", "", 0, 40) for i in range(5)]
    template = "{context}\n{question}"
    question = "where?"
    # counted by hand: n chunks of 40 characters, n - 1 blank lines between them, a newline and the question
    length = {n: 40 * n + 2 * (n - 1) + 1 + len(question) for n in range(1, 6)}
    for block in (30, 47, 88, 89, 200):
        expected = max([n for n in length if length[n] <= block], default=0)
        assert prompt_view.passages_that_fit(tok, block, question, hits, template, room=0) == expected, block
        # and with room for a 16-token answer: 16 fewer tokens for the prompt
        roomy = max([n for n in length if length[n] + 16 <= block], default=0)
        assert prompt_view.passages_that_fit(tok, block, question, hits, template) == roomy, block
        if expected:
            prompt = rag.build_prompt(question, hits[:expected], template)
            assert len(prompt) == length[expected]
