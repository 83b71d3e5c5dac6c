"""Streamlit helpers shared by the pages (not a page itself): the corpus and device every page
reads, the "code behind this page" expander, and figure drawing.

The sidebar in streamlit_app.py writes the learner's choices into st.session_state; pages read
them only through the functions here.
"""

from __future__ import annotations

import inspect
import json
import threading
import weakref
from pathlib import Path

import streamlit as st

from llmviz import jobs
from llmviz.text import corpora

CORPUS_KEY = "corpus"  # the llmviz.text.corpora.Corpus in use
DEVICE_KEY = "device_choice"  # "auto", "cuda", "mps" or "cpu"


# cache_resource, not cache_data: a Corpus is immutable, and every session gets the same object, so what it
# computes once (its token ids, its distinct characters) is computed once per server, not per rerun
@st.cache_resource(show_spinner="Preparing Shakespeare…", max_entries=8)
def shakespeare_text(plays: tuple[str, ...], max_chars: int | None) -> corpora.Corpus:
    return corpora.shakespeare(plays, max_chars)


@st.cache_resource(show_spinner=False, max_entries=1)
def python_docs_text() -> corpora.Corpus:
    return corpora.python_docs()


@st.cache_resource(show_spinner=False, max_entries=4)
def world_text(seed: int, people: int) -> corpora.Corpus:
    return corpora.world(f"{corpora.WORLD}:{seed}:{people}")


def current_corpus() -> corpora.Corpus:
    """The text the learner chose in the sidebar (the built-in Shakespeare until they choose)."""
    corpus = st.session_state.get(CORPUS_KEY)
    if corpus is None:
        corpus = shakespeare_text(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS)
        st.session_state[CORPUS_KEY] = corpus
    return corpus


_devices: dict = {}  # filled once per server by the background probe


def start_device_probe() -> None:
    """Import torch and list the devices once per server, in a background thread, after the first
    page has been drawn: pages render without waiting for torch, and training pages find it warm."""
    if _devices.get("started"):
        return
    _devices["started"] = True
    # numpy is imported here, on the script's thread, and not first inside torch's import in the probe
    # thread: two threads importing numpy at once can see it "partially initialized" (plotly needs it too)
    import numpy  # noqa: F401

    def probe():
        from llmviz.device import warm_up

        _devices["devices"] = warm_up()

    threading.Thread(target=probe, name="llmviz-device-probe", daemon=True).start()


# Streamlit loads the front-end code of a chart, a table, a code block or a diagram when a page first shows one,
# and evaluating it takes the browser 0.2-0.7 s (a 2-core CPU; plotly.js, 4.7 MB, is the largest). Every page
# loads these in the background, once it is drawn and the browser is idle, so that the learner's next page
# opens without that wait (a page that shows one already loaded it: it is not loaded twice).
_STATIC_JS = Path(st.__file__).parent / "static" / "static" / "js"
_ELEMENT_CODE = [p.name for kind in ("PlotlyChart", "DataFrame", "StreamlitSyntaxHighlighter", "GraphVizChart")
                 for p in sorted(_STATIC_JS.glob(f"{kind}.*.js"))[:1]]
_PREFETCH = """<script>
if (!window.llmvizElementCode) {
  window.llmvizElementCode = true;
  const app = document.querySelector("script[src*='/static/js/index.']"), files = %s;
  // the page first: a file is loaded only once its script has finished, nothing is loading and the browser is idle
  const ready = () => document.querySelector("[data-testid='stApp']")?.getAttribute("data-test-script-state")
    === "notRunning" && !document.querySelector("[data-testid='stSkeleton']");
  const load = (i) => app && i < files.length && setTimeout(() => ready()
    ? (window.requestIdleCallback || setTimeout)(() => import(new URL("./" + files[i], app.src)).catch(() => {}).then(() => load(i + 1)))
    : load(i), 1000);
  load(0);
}
</script>"""


def prefetch_element_code() -> None:
    """Load Streamlit's element code in the background (see above); nothing if this Streamlit has no such files."""
    if _ELEMENT_CODE:
        st.html(_PREFETCH % json.dumps(_ELEMENT_CODE), unsafe_allow_javascript=True, width="content")


def available_devices() -> list[str] | None:
    """The devices torch can use, best first; None while the background probe has not finished."""
    return _devices.get("devices")


def current_device() -> str:
    """The device to compute on: the sidebar's choice, or the best available one."""
    from llmviz.device import pick_device

    choice = st.session_state.get(DEVICE_KEY, "auto")
    try:
        return pick_device(choice)
    except ValueError:
        return pick_device("auto")


def dark() -> bool:
    """Whether the browser shows the app's dark theme (for figures that do not follow it by themselves)."""
    try:
        return st.context.theme.type == "dark"
    except AttributeError:
        return False


def plot(fig, key: str | None = None) -> None:
    """Draw a plotly figure at the page's width, in the app's theme."""
    st.plotly_chart(fig, width="stretch", key=key, theme="streamlit")


# --- background jobs tied to the learner's browser tab ------------------------------------------------
#
# A job started from a page stops itself once nobody has looked at it for UNWATCHED_S seconds
# (llmviz.jobs.Job.start(stop_unwatched_after=...)). Looking at it: the page's fragment polling it twice
# a second, any run of the app's script (every page touches the session's jobs), and, on a real server,
# a thread that touches every second the jobs of the sessions whose browser is still connected (so a
# tab left in the background, whose timers the browser slows down, keeps its training). A closed tab
# does none of these: its jobs stop within UNWATCHED_S seconds, not when Streamlit forgets the session
# minutes later.

UNWATCHED_S = 10.0
_JOBS = "_session_jobs"  # st.session_state: weak references to every job this session started


def _session_id() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else None
    except Exception:  # another Streamlit's internals: the page polls still keep jobs alive
        return None


def _connected(session_id: str) -> bool | None:
    """Whether this session's browser is connected now (None when the server cannot say, e.g. in tests)."""
    try:
        from streamlit import runtime

        if not runtime.exists():
            return None
        return runtime.get_instance().is_active_session(session_id)
    except Exception:
        return None


_watcher = jobs.Watcher(lambda sid: _connected(sid))  # one per server: the connected sessions' jobs


def start_job(job):
    """Start a llmviz Job or TrainingRun from a page: it stops itself once this session's tab is gone."""
    job.start(stop_unwatched_after=UNWATCHED_S)
    inner = getattr(job, "job", job)  # a TrainingRun's Job
    st.session_state.setdefault(_JOBS, []).append(weakref.ref(inner))
    sid = _session_id()
    if sid is not None:
        _watcher.add(sid, inner)
    return job


def session_jobs() -> list:
    """This session's jobs that are still running."""
    refs = st.session_state.get(_JOBS) or []
    live = jobs.live_jobs(refs)
    if len(live) != len(refs):
        st.session_state[_JOBS] = [weakref.ref(j) for j in live]
    return live


def touch_jobs() -> None:
    """This session is still here: for long work on the script's thread (e.g. streaming generated text)."""
    for job in session_jobs():
        job.touch()


def keep_jobs_alive() -> None:
    """Touch the session's running jobs now and, while there are any, every few seconds from a fragment
    (for servers where the connected-session watcher cannot run). Called by the app on every page."""
    running = session_jobs()
    for job in running:
        job.touch()

    @st.fragment(run_every=3.0 if running else None)
    def heartbeat():
        for job in session_jobs():
            job.touch()

    heartbeat()


def train_stop_buttons(prefix: str, running: bool, can_start: bool = True) -> tuple[bool, bool]:
    """Train and Stop buttons for a background job; returns which was pressed."""
    b1, b2, _ = st.columns([1, 1, 4])
    start = b1.button("Train", key=f"{prefix}_train", type="primary", disabled=running or not can_start,
                      icon=":material/play_arrow:")
    stop = b2.button("Stop", key=f"{prefix}_stop", disabled=not running, icon=":material/stop:")
    return start, stop


def time_left(snap) -> str:
    """" · about 3 min left", " · stopping…" or "" for a progress bar's text."""
    from llmviz.training.pace import describe

    if snap.stopping:
        return " · stopping (after the forward pass in progress)…"
    return f" · about {describe(snap.eta)} left" if snap.eta is not None else ""


def job_progress(snap, what: str | None = None) -> None:
    """A background job's progress bar (state, step or `what`, time left) and, if it failed, why."""
    what = what or f"step {snap.step:,} of {snap.total:,}"
    st.progress(snap.fraction, text=f"{snap.state} · {what}{time_left(snap)}")
    if snap.state == "failed":
        st.error(f"Training failed: {snap.reason}", icon=":material/error:")


def watch_job(key: str, draw=None, idle: str = "", what=None) -> None:
    """Watch the background job kept in st.session_state[key]: a fragment redraws its progress bar and
    `draw(snapshot)` twice a second while it runs, and reruns the page once when it ends, so polling
    stops and whatever needs the finished result is drawn. `what(snapshot)` may word the step."""
    job = st.session_state.get(key)
    polling = job is not None and job.running

    @st.fragment(run_every=0.5 if polling else None)
    def live():
        job = st.session_state.get(key)
        if job is None:
            if idle:
                st.info(idle)
            return
        snap = job.snapshot()
        job_progress(snap, what(snap) if what else None)
        if draw is not None:
            draw(snap)
        if polling and snap.done:
            st.rerun()

    live()


def code_expander(*objects, title: str = "The code behind this page", snippets: dict | None = None) -> None:
    """Show the real source of the llmviz functions/classes a page calls (and `snippets`: caption -> code).

    The code is drawn only while the expander is open: a closed one costs the browser nothing, where
    st.code inside it would make every visit load and run the 1.6 MB syntax highlighter."""
    names = "|".join(f"{getattr(o, '__module__', '')}.{getattr(o, '__qualname__', o)}" for o in objects)
    box = st.expander(title, icon=":material/code:", key=f"code_expander:{title}:{names}", on_change="rerun")
    if not box.open:
        return
    with box:
        for caption, code in (snippets or {}).items():
            st.caption(f"`{caption}`")
            st.code(code, language="python")
        for obj in objects:
            module = getattr(obj, "__module__", "")
            st.caption(f"`{module}.{getattr(obj, '__qualname__', obj)}`")
            st.code(inspect.getsource(obj), language="python")


# --- the sidebar (drawn by streamlit_app.py on every page) ----------------------------------------

_SOURCES = {
    corpora.SHAKESPEARE: "Shakespeare (built-in)",
    corpora.PYTHON_DOCS: "Python Language Reference (built-in)",
    corpora.WORLD: "A generated world (invented people, questions with known answers)",
    corpora.UPLOAD: "Your own text (.txt)",
    corpora.TINY_SHAKESPEARE: "Tiny Shakespeare (download once, 1.1 MB)",
}
_CAPS = {100_000: "100 k", 250_000: "250 k", 500_000: "500 k", 1_000_000: "1 M", 2_000_000: "2 M", 0: "all"}


def corpus_picker() -> None:
    """Choose the text every page learns from. A choice that fails keeps the previous text."""
    st.subheader("Text to learn from")
    source = st.selectbox("Corpus", list(_SOURCES), format_func=_SOURCES.get, key="corpus_source")
    try:
        if source == corpora.SHAKESPEARE:
            plays = st.multiselect("Plays", list(corpora.list_plays()), default=list(corpora.DEFAULT_PLAYS),
                                   format_func=corpora.play_title, key="corpus_plays")
            cap = st.select_slider("At most (characters)", list(_CAPS), value=corpora.DEFAULT_MAX_CHARS,
                                   format_func=_CAPS.get, key="corpus_cap")
            if not plays:
                raise corpora.CorpusError("Choose at least one play.")
            _use(shakespeare_text(tuple(plays), cap or None))
        elif source == corpora.PYTHON_DOCS:
            _use(python_docs_text())
        elif source == corpora.WORLD:
            seed = st.number_input("Seed of the world", 0, 2**31 - 1, 0, key="corpus_world_seed")
            people = st.select_slider("People", [50, 100, 200, 500, 1000, 2000], corpora.WORLD_PEOPLE,
                                      key="corpus_world_people")
            _use(world_text(int(seed), int(people)))
        elif source == corpora.UPLOAD:
            upload = st.file_uploader("A UTF-8 text file", type=["txt", "md"], key="corpus_upload",
                                      help=f"At most {corpora.MAX_UPLOAD_MB} MB.")
            if upload is not None:
                # decoded once per file, not on every rerun: the same Corpus keeps its token ids
                seen = st.session_state.get("_corpus_upload")
                if seen is None or seen[0] != upload.file_id:
                    try:
                        seen = (upload.file_id, corpora.text_from_upload(upload.getvalue(), upload.name))
                    except corpora.CorpusError as e:
                        seen = (upload.file_id, str(e))
                    st.session_state["_corpus_upload"] = seen
                if isinstance(seen[1], str):
                    raise corpora.CorpusError(seen[1])
                _use(seen[1])
            else:
                st.caption("Until you upload a file, the pages keep using the previous text.")
        elif source == corpora.TINY_SHAKESPEARE:
            if st.button("Download Tiny Shakespeare", key="corpus_download", icon=":material/download:"):
                with st.spinner("Downloading…"):
                    _use(corpora.tiny_shakespeare())
    except corpora.CorpusError as e:
        st.error(str(e), icon=":material/error:")
    st.caption(current_corpus().describe())


def _use(corpus: corpora.Corpus) -> None:
    st.session_state[CORPUS_KEY] = corpus


def device_picker() -> None:
    """Compute device: detected automatically, overridable."""
    devices = available_devices()
    options = ["auto"] + (devices or ["cpu"])
    labels = {"auto": f"auto ({devices[0].upper()})" if devices else "auto", "cuda": "CUDA GPU",
              "mps": "Apple MPS", "cpu": "CPU"}
    st.selectbox("Compute device", options, format_func=lambda d: labels.get(d, d), key=DEVICE_KEY,
                 help="Where models train. Auto picks CUDA, then Apple MPS, then the CPU.")
