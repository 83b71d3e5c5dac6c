"""The whole app in AppTest: every registered page renders cleanly, and the shared sidebar works.

Pages are discovered from pages/_registry.py (what streamlit_app.py registers), so a new page is
covered here without editing this file.
"""

import ast
import socket

import pytest

from pages._registry import PAGES
from tests.browser import streamlit_server
from tests.conftest import ROOT, open_page


def test_every_page_file_is_registered_and_exists():
    registered = {p.path for p in PAGES}
    on_disk = {f"pages/{f.name}" for f in (ROOT / "pages").glob("*.py") if not f.name.startswith("_")}
    assert on_disk <= registered | {"pages/__init__.py"}, "a page file is not registered in pages/_registry.py"
    for p in PAGES:
        assert (ROOT / p.path).is_file(), p.path
        assert p.summary and p.title


def test_pages_do_not_import_torch():
    # heavy maths lives in llmviz; a page that imports torch makes every visit pay for it
    for f in (ROOT / "pages").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n == "torch" or n.startswith("torch.") for n in names), f.name


def test_core_never_imports_streamlit():
    for f in (ROOT / "llmviz").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "streamlit" for n in names), f


@pytest.mark.parametrize("page", [p.path for p in PAGES])
def test_page_renders_without_error(page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_links_every_page_and_names_the_corpus():
    at = open_page("pages/home.py")
    text = " ".join(m.value for m in at.markdown)
    for p in PAGES:
        if p.path != "pages/home.py":
            assert p.title in str([el.proto for el in at.get("page_link")]), p.title
    assert at.metric[0].value.startswith("Shakespeare")
    assert "dictionary" in text
    # the intro names all four parts; each page's summary is shown in full (a caption that wraps)
    assert all(f"**Part {n}**" in text for n in (1, 2, 3, 4))
    captions = [c.value for c in at.caption]
    assert all(p.summary in captions for p in PAGES if p.path != "pages/home.py")
    # the device card never says "detecting…": it appears once the device is known
    assert all("detecting" not in str(m.value) for m in at.metric)


def test_sidebar_switches_corpus_and_refuses_bad_uploads():
    at = open_page("pages/home.py")
    at.selectbox(key="corpus_source").set_value("python-docs").run()
    assert at.metric[0].value == "Python Language Reference"
    at.selectbox(key="corpus_source").set_value("upload").run()
    at.file_uploader(key="corpus_upload").set_value(("blank.txt", b"", "text/plain")).run()
    assert any("empty" in e.value for e in at.sidebar.error)
    assert at.metric[0].value == "Python Language Reference"  # nothing lost
    at.file_uploader(key="corpus_upload").set_value(("img.txt", b"\x00\x01\x02binary", "text/plain")).run()
    assert any("binary" in e.value for e in at.sidebar.error)
    at.file_uploader(key="corpus_upload").set_value(("mine.txt", "to be or not to be\n".encode(), "text/plain")).run()
    assert not at.sidebar.error
    assert at.metric[0].value == "Your text (mine.txt)"
    # the choice is shared: another page sees the same text
    at.switch_page(PAGES[-1].path).run()
    assert at.session_state["corpus"].text == "to be or not to be\n"


def test_empty_play_selection_is_explained():
    at = open_page("pages/home.py")
    at.multiselect(key="corpus_plays").set_value([]).run()
    assert any("at least one play" in e.value for e in at.sidebar.error)
    assert at.metric[0].value.startswith("Shakespeare")


def test_code_expanders_draw_their_code_only_once_opened():
    # a closed expander sends no code: the browser does not load the syntax highlighter for it
    at = open_page("pages/deep_networks.py")
    assert [e.label for e in at.expander] == ["The code behind this page"] and not at.code
    at.session_state["code_expander:The code behind this page:llmviz.concepts.deep.layer_grad_norms|"
                     "llmviz.concepts.deep.activation_rms|llmviz.concepts.deep.train_variants"] = True  # what opening it does
    at.run()
    assert [c.value.split("(")[0] for c in at.code] == ["def layer_grad_norms", "def activation_rms",
                                                        "def train_variants"]


def test_the_app_listens_on_this_machine_only():
    """README's `streamlit run streamlit_app.py`, with the project's .streamlit/config.toml: reachable on
    127.0.0.1, refused on the machine's other addresses."""
    try:  # this machine's address on its default route (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            other = s.getsockname()[0]
    except OSError:
        other = "127.0.0.1"
    if other.startswith("127."):
        pytest.skip("no network interface besides loopback")
    with streamlit_server(flags=False) as url:  # answers on 127.0.0.1 (the helper waits for its health check)
        with pytest.raises(OSError):
            socket.create_connection((other, int(url.rsplit(":", 1)[1])), timeout=2).close()
