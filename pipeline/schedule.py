"""When a source is checked next: its `every` from now, ±JITTER so a desk's sources don't all
fire together; a failing source backs off (doubling, at most daily or its own interval). The
one place these times are computed, for checks and for sources.yaml edits alike.
"""

from __future__ import annotations

import datetime as dt
import random

JITTER = 0.1  # ±10% on every interval
MAX_BACKOFF = 86400  # a failing source is retried at least daily (or at its own interval)


def next_check(now: dt.datetime, seconds: float) -> dt.datetime:
    """When to check again: `seconds` from `now`, ±JITTER."""
    return now + dt.timedelta(seconds=seconds * random.uniform(1 - JITTER, 1 + JITTER))


def interval(every: int, failures: int) -> int:
    """Seconds until the next check of a source checked every `every` seconds that has failed
    `failures` checks in a row: `every`, doubling per failure after the first."""
    if failures <= 1:
        return every
    return min(every * 2 ** (failures - 1), max(every, MAX_BACKOFF))


def rescheduled(last_checked: dt.datetime | None, every: int,
                failures: int) -> dt.datetime | None:
    """The next check of a source whose `every` (or the defaults') was just edited: its last
    check plus the new interval (already due when that is past), or at once when it was never
    checked."""
    if last_checked is None:
        return None
    return last_checked + dt.timedelta(seconds=interval(every, failures))
