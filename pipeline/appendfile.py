"""Appending whole lines to a file that other processes append to as well (the `file:` alert
channel, audit anchor files): one locked O_APPEND write, fsync'd before it counts."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def append(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Append `data` (whole lines) to `path`, creating it with `mode`; raises OSError."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # an earlier write was cut short (disk full): keep lines whole
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock
