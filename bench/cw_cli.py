"""claimwatch's command line as the `claimwatch` script runs it, for the start-up figures.

    python bench/cw_cli.py ARGS...        (with the measured code first on PYTHONPATH)

With CW_RSS_OUT set, the process also writes its own peak RSS (VmHWM from /proc/self/status,
read at exit) to that file as {"peak_rss_kib": N}.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("CW_RSS_OUT"):
    import atexit

    def _record(out: str) -> None:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open(out, "w") as f:
            f.write(f'{{"peak_rss_kib": {peak}}}')

    atexit.register(_record, os.environ["CW_RSS_OUT"])

sys.argv[0] = "claimwatch"
from pipeline.cli import main  # noqa: E402

main()
