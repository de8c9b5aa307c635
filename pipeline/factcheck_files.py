"""A new fact-check's file (an imported draft, as an editor accepted it): checked with the
desk's configuration (in a directory of sources, with its other files), and written into the
directory as a new file, atomically and never over another one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import yaml

from pipeline import config
from pipeline.config import Config
from pipeline.errors import Conflict, NotWritable, UsageError


def check(text: str, path: Path, sources: Path | None) -> Config:
    """The configuration the desk would have with `text` as the file at `path`: with the other
    files of `sources` when it is a directory, else alone. Raises ConfigError (FILE:LINE)."""
    if sources is not None and sources.is_dir():
        mine = path.resolve()
        files = [(str(p), config.read_file(p)) for p in config.yaml_files(sources)
                 if p.resolve() != mine]
        return config.parse_files(sorted([*files, (str(path), text)]))
    return config.parse(text, str(path))


def file_for(text: str, sources: Path) -> Path:
    """Where a fact-check file goes in the directory: `ID.yaml`, after its first fact-check."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    factchecks = data.get("factchecks") if isinstance(data, dict) else None
    first = factchecks[0] if isinstance(factchecks, list) and factchecks else None
    ident = first.get("id") if isinstance(first, dict) else None
    if not isinstance(ident, str) or not config.SLUG.match(ident):
        raise UsageError("the file declares no fact-check with an id (factchecks: - id: …)",
                         field="text")
    return sources / f"{ident}.yaml"


def add(text: str, sources: Path) -> tuple[Path, Config]:
    """Write `text` as a new fact-check file of the directory `sources` once it validates with
    the others; returns the file and the configuration it makes."""
    if not sources.is_dir():
        raise UsageError(f"{sources} is one file: a new fact-check goes into a directory of "
                         "sources (--sources DIR); paste the draft into it by hand",
                         field="sources")
    path = file_for(text, sources)
    if path.exists():
        raise Conflict(f"{path} exists already: give the fact-check another id")
    loaded = check(text, path, sources)
    write_new(path, text)
    return path, loaded


def write_new(path: Path, text: str) -> None:
    """`text` as the new file `path`: complete or not there at all, and never over a file
    (Conflict when one appeared meanwhile)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise NotWritable(str(path), exc.strerror or str(exc), text) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.link(tmp, path)  # fails when the name is taken: no file is ever replaced
    except FileExistsError:
        raise Conflict(f"{path} exists already: give the fact-check another id") from None
    except OSError as exc:
        raise NotWritable(str(path), exc.strerror or str(exc), text) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
