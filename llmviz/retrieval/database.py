"""A vector database folder (LanceDB is embedded: a database is a folder, a table a sub-folder in the
Lance columnar format, and there is no server): where it is, its tables, whether it can be written, the
names and filters it accepts, LanceDB's failures said in words, and the lock that lets one build at a
time write a table (another process's build of the same table is told, not overwritten)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import filelock

from llmviz.errors import LearnerError
from llmviz.text import corpora

os.environ.setdefault("LANCEDB_LOG", "error")  # LanceDB's Rust side warns on stderr when a table is created


class VectorDBError(LearnerError):
    """A database request that cannot be carried out, with a message meant for the learner."""


def default_dir() -> Path:
    return corpora.cache_dir() / "vectors"


def slug(text: str) -> str:
    """A table name LanceDB accepts: letters, digits, '-' and '_'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "table"


MAX_NAME = 64  # characters in a table name (a folder name on every file system)
_NAME = re.compile(r"[A-Za-z0-9_-]+")
MAX_FILTER = 2000  # characters in a filter


def check_name(name: str) -> str:
    """A table name as typed, refused in words unless it is 1 to MAX_NAME letters, digits, '-' or '_'."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:40]}... ({len(str(name))} characters)"
        raise VectorDBError(f"{shown!r} cannot be a table name: use 1 to {MAX_NAME} letters, digits, '-' or '_' "
                            f"(e.g. {slug(str(name))!r}).")
    return name


def check_filter(where: str | None) -> str | None:
    """A filter (a SQL expression on the columns) refused in words unless it is one expression: nothing after
    a ';' outside quotes (LanceDB would silently drop it), not empty, not over MAX_FILTER characters."""
    if where is None:
        return None
    if not where.strip():
        raise VectorDBError("the filter is empty: leave it out to search every row, or write e.g. speaker = 'HAMLET'.")
    if len(where) > MAX_FILTER:
        raise VectorDBError(f"the filter has {len(where):,} characters; at most {MAX_FILTER:,} are read.")
    quote = None
    for i, ch in enumerate(where):
        if quote:
            if ch == quote:
                quote = None  # a doubled quote closes and reopens: the same in effect
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            raise VectorDBError(f"the filter must be one expression; {where[i:][:40]!r} follows a ';'. Nothing was "
                                "searched: write only the condition, e.g. speaker = 'HAMLET' AND id < 100.")
    if quote:
        raise VectorDBError(f"the filter {where!r} opens a {quote} it never closes.")
    return where


_RUST_PLACE = re.compile(r",\s*/\S+:\d+:\d+")  # the Rust source file and line LanceDB appends


def lance_words(error: Exception) -> str:
    """The first line of a LanceDB error, without its Rust source location."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return _RUST_PLACE.sub("", text).removeprefix("lance error: ")


@contextlib.contextmanager
def reading(name: str, where: str | None = None):
    """LanceDB's failures while reading table `name`, in words: a filter that fails on the rows (a division by
    zero, text cast to a number) or a table whose files are damaged. Nothing is changed by either."""
    try:
        yield
    except VectorDBError:
        raise
    except (RuntimeError, OSError, ValueError) as e:
        words = lance_words(e)
        if where and ("filter" in words.lower() or "execution" in words.lower() or isinstance(e, ValueError)):
            raise VectorDBError(f"the filter {where!r} cannot be used: {words}") from None
        raise VectorDBError(f"the table {name!r} cannot be read: its files look damaged ({words}). Nothing was "
                            "changed; build it again (index ... --replace).") from None


@contextlib.contextmanager
def building(db_dir: Path, name: str):
    """Hold the right to write table `name` while it is built: a second build of the same table, in this
    process or another, is refused at once, in words. The operating system lets go of the lock when its
    process ends, even killed, so no stale lock is ever left."""
    folder = Path(db_dir) / "_llmviz"
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / f"{name}.lock"), timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise VectorDBError(f"another build of the table {name!r} is running (in this folder, now): this one did "
                            "nothing. Wait for it to finish, or choose another --table.") from None
    try:
        yield
    finally:
        lock.release()


def list_tables(db_dir: str | Path) -> list[str]:
    """The tables of a database folder, without opening it (an absent folder has none)."""
    db_dir = Path(db_dir)
    if not db_dir.is_dir():
        return []
    return sorted(p.name[:-6] for p in db_dir.iterdir() if p.name.endswith(".lance") and p.is_dir())


def writable_dir(db_dir: str | Path) -> Path:
    """The database folder, created if needed; refused, saying why, when it cannot be written."""
    db_dir = Path(db_dir).expanduser()
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
        probe = db_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise VectorDBError(f"cannot write the vector database to {db_dir} ({e.strerror or e}): "
                            "choose a folder you can write to.") from None
    return db_dir


def connect(db_dir: Path):
    import lancedb

    return lancedb.connect(str(db_dir))
