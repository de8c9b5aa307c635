"""What every request of the desk shares: the open database, the sources.yaml (or directory of
files) it watches (read again when a file changes; a broken edit keeps the last good one and
says so), and how cookies are set. One `Desk` per process, on `app.state.desk`.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db import Store
from pipeline import api, config
from pipeline.config import Config
from pipeline.errors import ConfigError


@dataclass
class Desk:
    store: Store
    sources: Path
    secure_cookies: bool = False
    _config: Config | None = None
    _stamp: tuple[Any, ...] | None = None
    problem: str | None = None  # why the file on disk is not the configuration in use
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self) -> Config:
        """The configuration in use: sources.yaml as last read without errors."""
        stamp = config.stamp(self.sources)
        with self._lock:
            if self._config is None or stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._config = api.load_config(self.sources)
                    self.problem = None
                    _settle()
                except ConfigError as exc:
                    if self._config is None:
                        raise
                    self.problem = (f"{self.sources} has {len(exc.problems)} problem(s) "
                                    f"(first: {exc.problems[0]}); the desk uses it as last read")
            return self._config


def _settle() -> None:
    """Keep what the process holds for good (its imports, the configuration just read) out of
    the garbage collector's full collections, which walk every object: at 10,000 sources, one
    request in seven waited ~110 ms for one (bench/desk.py). Unfrozen first, so a replaced
    configuration is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
