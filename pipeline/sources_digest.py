"""What sources.yaml says, as one digest, without parsing it: its files' names and text, the
environment values its `${NAME}`s read, and claimwatch's version. The same digest means the
same configuration, so a `check` whose files' digest is the last one synced (`config_sync`)
needs neither the YAML parser nor the pydantic models to know the tables are up to date
(`pipeline.idle`). A leaf: the standard library only.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pipeline import __version__

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # as `pipeline.secrets` reads them


def yaml_files(directory: Path) -> list[Path]:
    """The files a directory of sources is made of: its `*.yaml`, by name; hidden ones (an
    editor's swap or lock files, claimwatch's own temporary files) are not."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith(".")
                  and p.is_file())


def digest(files: list[tuple[str, str]]) -> str:
    """The digest of a configuration made of these files (path, text), in this order."""
    h = hashlib.sha256(f"claimwatch {__version__}\n".encode())
    names: set[str] = set()
    for path, text in files:
        h.update(f"\0file {Path(path).name}\0{len(text)}\0".encode())
        h.update(text.encode("utf-8", "surrogatepass"))
        names.update(PLACEHOLDER.findall(text))
    for name in sorted(names):
        value = os.environ.get(name)
        h.update(f"\0env {name}\0{'-' if value is None else '+' + value}".encode(
            "utf-8", "surrogatepass"))
    return h.hexdigest()


def of_path(path: str | Path) -> str | None:
    """The digest of the configuration at `path` (a file, or a directory of files) as
    `config.load` would read it; None when it cannot be read (`config.load` then says why)."""
    path = Path(path)
    try:
        files = yaml_files(path) if path.is_dir() else [path]
        if not files:
            return None
        return digest([(str(f), f.read_text(encoding="utf-8")) for f in files])
    except (OSError, UnicodeDecodeError):
        return None
