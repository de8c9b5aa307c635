"""The words claimwatch's rows, records and messages use, defined once: outcomes and their
severities, flag and alert states, check results, review decisions, desk roles, and the one time
format.

A leaf module: it imports nothing from claimwatch, so every layer (db, pipeline, alerts, web)
can use it. The values are StrEnums, so they compare equal to the strings stored in rows and
printed in JSON (SPEC §3), and `Outcome.HOLDS == "holds"`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class Outcome(StrEnum):
    """What one evidence item came out as on one check (SPEC §1 Outcomes)."""

    HOLDS = "holds"
    BROKEN = "broken"
    CHANGED = "changed"
    UNREACHABLE = "unreachable"
    ERROR = "error"


class Severity(StrEnum):
    """How urgent a flag is; declared from least to most."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# an outcome that flags, and how urgently; `holds` never flags
SEVERITY_OF: dict[Outcome, Severity] = {
    Outcome.BROKEN: Severity.HIGH, Outcome.UNREACHABLE: Severity.HIGH,
    Outcome.ERROR: Severity.MEDIUM, Outcome.CHANGED: Severity.LOW,
}


def rank(severity: str) -> int:
    """0 for low … 2 for high (raises ValueError for anything else)."""
    return Severity(severity).rank


class FetchMode(StrEnum):
    """How a source is fetched (`fetch:` in sources.yaml), stored with each snapshot: snapshots
    of one mode are never compared with the other's."""

    HTTP = "http"  # the response as served
    BROWSER = "browser"  # the page rendered in headless Chromium, its DOM after scripts ran


class FlagStatus(StrEnum):
    OPEN = "open"
    REVIEWED = "reviewed"  # an editor recorded a decision
    RESOLVED = "resolved-by-source"  # the evidence came back by itself
    RETIRED = "source-retired"  # an editor accepted its source as gone for good


class Decision(StrEnum):
    """An editor's decision on a flag: each makes the flagged snapshot the new baseline."""

    UPHELD = "upheld"  # the verdict stands
    REVISED = "revised"  # the verdict changes (a new verdict is required)
    DISMISSED = "dismissed"  # a false alarm


class AlertStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up after its last retry


class ArchiveStatus(StrEnum):
    """Where a snapshot stands with the public archive (`pipeline.archive`)."""

    PENDING = "pending"  # waiting for its turn to be submitted (or to be submitted again)
    SUBMITTED = "submitted"  # the archive took the job; its status is being polled
    ARCHIVED = "archived"  # captured: `archived_url` opens it
    FAILED = "failed"  # a permanent refusal, or given up after its last retry


class CheckResult(StrEnum):
    """What one source check found (`check --json` sources[].status)."""

    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    ERROR = "error"


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(moment: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as JSON and messages show it: 2026-11-25T08:00:00Z."""
    return None if moment is None else moment.strftime(TIME_FORMAT)


class Role(StrEnum):
    """What a desk account may do; declared from least to most, each allowing the ones before."""

    VIEWER = "viewer"  # read
    CHECKER = "checker"  # + mark flags seen, comment
    EDITOR = "editor"  # + review, check now, retire sources
    ADMIN = "admin"  # + accounts and API tokens

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)
