"""A vector database folder (LanceDB is embedded: a database is a folder, a table a sub-folder in the
Lance columnar format, and there is no server): where it is, its tables, whether it can be written."""

from __future__ import annotations

import os
import re
from pathlib import Path

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
