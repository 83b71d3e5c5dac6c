"""Writing a file so that nobody ever sees half of it: into a temporary file of a name no other writer
uses (its own random part, in the same folder), then renamed over the target in one step (os.replace).
Two sessions or processes writing the same file never share a temporary, and the last rename wins whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temporary(path: Path):
    """An open, new temporary file beside path, named for it and for this writer alone."""
    return tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write data to path atomically (its folder is created if needed). An OSError leaves no temporary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(path) as f:
        tmp = Path(f.name)
        try:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
    try:
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def probe(path: str | Path) -> None:
    """Raise the OSError that write_bytes(path, ...) would meet (a folder that cannot be made or written, a
    name too long), having written nothing: it makes write_bytes' own temporary, whose name is longer than
    the file's, and removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(path) as f:
        pass
    Path(f.name).unlink()
