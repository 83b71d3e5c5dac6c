"""What each table keeps beside it, in `_llmviz/<table>/`: the embedder that made its vectors (so a
question is embedded the same way after a restart) and a copy of its provenance (readable without
opening LanceDB)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from llmviz.retrieval import embedders, synthetic
from llmviz.retrieval.database import VectorDBError, list_tables
from llmviz.retrieval.provenance import Provenance

SIDECAR = "_llmviz"  # where each table keeps its embedder
PROVENANCE = "provenance.json"


@contextlib.contextmanager
def saving(db_dir: Path, name: str, embedder: embedders.Embedder, provenance: Provenance):
    """Save the embedder and the provenance of table `name` while the table is written: into a staging
    folder first, moved into place only once the body of the `with` has succeeded (a failed write leaves
    the table's old ones, if any)."""
    sidecar = db_dir / SIDECAR / name
    staging = db_dir / SIDECAR / f".{name}.{os.getpid()}.part"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        embedder.save(staging)
        (staging / PROVENANCE).write_text(provenance.to_json())
        yield
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(sidecar, ignore_errors=True)
    staging.replace(sidecar)


def load_embedder(db_dir: Path, name: str, provenance: Provenance) -> embedders.Embedder:
    """The embedder saved beside table `name`, refused if it is not the one that built the table."""
    folder, kind = db_dir / SIDECAR / name, provenance.embedder["kind"]
    if kind == synthetic.KIND:
        try:
            e = synthetic.SyntheticEmbedder.load(folder)
        except (OSError, KeyError, ValueError) as err:
            raise VectorDBError(f"the synthetic settings saved beside {name!r} cannot be read ({err}): rebuild it.") from None
    else:
        e = embedders.load(folder, kind)
    if e.fingerprint != provenance.embedder["fingerprint"]:
        raise VectorDBError(f"the embedder saved beside {name!r} is not the one that built it: rebuild the table.")
    return e


def describe_tables(db_dir: str | Path) -> dict[str, Provenance | None]:
    """Each table of a database folder with its provenance, read from the copy kept beside it (cheap:
    LanceDB is not opened); None for a table that has none."""
    out = {}
    for name in list_tables(db_dir):
        f = Path(db_dir) / SIDECAR / name / PROVENANCE
        try:
            out[name] = Provenance.from_json(f.read_text())
        except (OSError, ValueError, TypeError):
            out[name] = None
    return out
