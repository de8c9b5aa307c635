"""Run urlwatch's command line in this process and record its own peak RSS at exit.

    .venv-urlwatch/bin/python bench/rss_wrap.py OUT.json -- ARGS...

VmHWM is read from /proc/self/status when the interpreter exits (also through sys.exit), so it is
urlwatch's own high-water mark, not a parent's carried across exec as ru_maxrss would be.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

T0 = time.perf_counter()


def _record(out: str) -> None:
    peak = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    with open(out, "w") as f:
        json.dump({"peak_rss_kib": peak, "in_process": round(time.perf_counter() - T0, 3)}, f)


def main() -> None:
    out, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: rss_wrap.py OUT.json -- ARGS..."
    atexit.register(_record, out)
    # urlwatch looks at argv[0] to find its installation prefix
    sys.argv = [os.path.join(os.path.dirname(sys.executable), "urlwatch"), *args]
    from urlwatch.cli import main as urlwatch_main

    urlwatch_main()


if __name__ == "__main__":
    main()
