"""`claimwatch status`: how the deployment is doing, and a health check (exit 1 when something
needs attention).

Needs attention: a source failing 3 or more checks in a row (or backed off), a source overdue
(due for longer than half its interval and at least 15 minutes: nothing is checking it), an
alert delivery given up, or a backfill that failed. Open flags are listed but are the desk's
work, not an outage; retired sources (accepted as gone) need nothing. Each source's state is
`pipeline.source_health`'s; each dated fact-check's backfill (awaiting, in progress,
interrupted, failed, finished) is `pipeline.backfill.states`': an unfinished one is resumed by
the next check, so it needs no one, but a failed one waits for a person to fix its cause and
run `claimwatch backfill`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts import outbox
from db.models import AlertRow, ArchiveRow, AuditEventRow, FetchRow, FlagRow
from pipeline import backfill
from pipeline.config import Config, format_duration
from pipeline.evaluate import FAILURES_BEFORE_UNREACHABLE
from pipeline.source_health import health
from pipeline.vocab import AlertStatus, ArchiveStatus, FlagStatus, iso


def status(session: Session, config: Config, now: dt.datetime) -> dict[str, Any]:
    every_source = health(session, config, now)
    live = [h for h in every_source if h.state != "retired"]
    due = [h for h in live if h.next_check_at is None or h.next_check_at <= now]
    overdue = [h.source for h in live if h.state == "overdue"]
    failing = [{"source": h.source, "in_a_row": h.failures,
                "backed_off": h.state == "backed off" or (
                    h.failures > 1 and h.next_check_at is not None and h.next_check_at > now),
                "next_check_at": iso(h.next_check_at), "error": h.last_error}
               for h in live if h.failures]
    schedule = sorted(({"source": h.source, "every": format_duration(h.every),
                        "last_check_at": iso(h.last_check_at),
                        "next_check_at": iso(h.next_check_at) or "now"} for h in live),
                      key=lambda s: "" if s["next_check_at"] == "now" else s["next_check_at"])
    severities = dict(session.execute(select(FlagRow.severity, func.count()).where(
        FlagRow.status == FlagStatus.OPEN).group_by(FlagRow.severity)).all())
    alerts = dict(session.execute(select(AlertRow.status, func.count()).group_by(
        AlertRow.status)).all())
    archived = dict(session.execute(select(ArchiveRow.status, func.count()).group_by(
        ArchiveRow.status)).all())
    backfills = backfill.states(session, config, now)
    last_run = session.scalars(select(AuditEventRow).where(AuditEventRow.kind == "run")
                               .order_by(AuditEventRow.seq.desc())).first()
    attention = []
    serious = [f for f in failing if f["in_a_row"] >= FAILURES_BEFORE_UNREACHABLE
               or f["backed_off"]]
    if serious:
        attention.append(f"{len(serious)} source(s) failing: "
                         + ", ".join(str(f["source"]) for f in serious))
    if overdue:
        attention.append(f"{len(overdue)} source(s) overdue (is a daemon or cron running?): "
                         + ", ".join(overdue[:10]))
    for channel, flag_ids in outbox.missing(session, config).items():
        attention.append(f"{len(flag_ids)} open flag(s) never got to {channel} (added since?): "
                         "'claimwatch alerts backfill' sends them")
    if alerts.get(AlertStatus.FAILED):
        attention.append(f"{alerts['failed']} alert(s) given up: see 'claimwatch alerts "
                         "--failed'")
    failed = [b.factcheck for b in backfills if b.state == "failed"]
    if failed:
        attention.append(f"{len(failed)} backfill(s) failed: " + ", ".join(failed[:10])
                         + " (fix the cause, then 'claimwatch backfill FACTCHECK')")
    return {
        "schema": _schema(session),
        "last_check_at": iso(session.scalar(select(func.max(FetchRow.started_at)))),
        "last_run": {"at": iso(last_run.at), **last_run.data} if last_run else None,
        "sources": {"active": len(live), "due": len(due), "overdue": overdue,
                    "being_checked": [h.source for h in live if h.being_checked],
                    "failing": failing, "schedule": schedule,
                    "retired": [h.source for h in every_source if h.state == "retired"]},
        "flags": {"open": sum(severities.values()), "by_severity": severities},
        "alerts": {"pending": alerts.get("pending", 0), "failed": alerts.get("failed", 0),
                   "sent": alerts.get("sent", 0)},
        "archive": {status: archived.get(status, 0) for status in ArchiveStatus},
        "backfills": [state.to_json() for state in backfills],
        "attention": attention,
    }


def _schema(session: Session) -> str | None:
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None
