"""`claimwatch status`: how the deployment is doing, and a health check (exit 1 when something
needs attention).

Needs attention: a source failing 3 or more checks in a row (or backed off), a source overdue
(due for longer than half its interval and at least 15 minutes: nothing is checking it), or an
alert delivery given up. Open flags are listed but are the desk's work, not an outage.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.models import AlertRow, AuditEventRow, FetchRow, FlagRow, SourceRow
from pipeline.config import Config, format_duration
from pipeline.evaluate import FAILURES_BEFORE_UNREACHABLE
from pipeline.vocab import AlertStatus, FlagStatus, iso

OVERDUE_FLOOR = dt.timedelta(minutes=15)


def status(session: Session, config: Config, now: dt.datetime) -> dict[str, Any]:
    sources = session.scalars(select(SourceRow).where(SourceRow.active.is_(True))
                              .order_by(SourceRow.slug)).all()
    due, overdue, failing, leased, schedule = [], [], [], [], []
    for row in sources:
        every = dt.timedelta(seconds=config.every(row.slug)) if row.slug in config.sources \
            else OVERDUE_FLOOR
        if row.next_check_at is None or row.next_check_at <= now:
            due.append(row.slug)
            if row.next_check_at is not None and \
                    now - row.next_check_at > max(every / 2, OVERDUE_FLOOR):
                overdue.append(row.slug)
        if row.lease_until is not None and row.lease_until > now:
            leased.append(row.slug)
        schedule.append({"source": row.slug, "every": format_duration(int(every.total_seconds())),
                         "last_check_at": iso(row.last_checked_at),
                         "next_check_at": iso(row.next_check_at) or "now"})
        if row.consecutive_failures:
            error = session.scalars(select(FetchRow.error).where(
                FetchRow.source_id == row.id, FetchRow.result.is_not(None))
                .order_by(FetchRow.id.desc())).first()
            failing.append({"source": row.slug, "in_a_row": row.consecutive_failures,
                            "backed_off": bool(row.next_check_at and row.next_check_at > now
                                               and row.consecutive_failures > 1),
                            "next_check_at": iso(row.next_check_at), "error": error})
    schedule.sort(key=lambda s: "" if s["next_check_at"] == "now" else s["next_check_at"])
    severities = dict(session.execute(select(FlagRow.severity, func.count()).where(
        FlagRow.status == FlagStatus.OPEN).group_by(FlagRow.severity)).all())
    alerts = dict(session.execute(select(AlertRow.status, func.count()).group_by(
        AlertRow.status)).all())
    last_run = session.scalars(select(AuditEventRow).where(AuditEventRow.kind == "run")
                               .order_by(AuditEventRow.seq.desc())).first()
    attention = []
    serious = [f for f in failing if f["in_a_row"] >= FAILURES_BEFORE_UNREACHABLE
               or f["backed_off"]]
    if serious:
        attention.append(f"{len(serious)} source(s) failing: "
                         + ", ".join(f["source"] for f in serious))
    if overdue:
        attention.append(f"{len(overdue)} source(s) overdue (is a daemon or cron running?): "
                         + ", ".join(overdue[:10]))
    if alerts.get(AlertStatus.FAILED):
        attention.append(f"{alerts['failed']} alert(s) given up: see 'claimwatch alerts "
                         "--failed'")
    return {
        "schema": _schema(session),
        "last_check_at": iso(session.scalar(select(func.max(FetchRow.started_at)))),
        "last_run": {"at": iso(last_run.at), **last_run.data} if last_run else None,
        "sources": {"active": len(sources), "due": len(due), "overdue": overdue,
                    "being_checked": leased, "failing": failing, "schedule": schedule},
        "flags": {"open": sum(severities.values()), "by_severity": severities},
        "alerts": {"pending": alerts.get("pending", 0), "failed": alerts.get("failed", 0),
                   "sent": alerts.get("sent", 0)},
        "attention": attention,
    }


def _schema(session: Session) -> str | None:
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None
